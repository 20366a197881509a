/**
 * zod as mkt uses it: the v3 API (which the zod package ships beside v4 as "zod/v3"), mkt's
 * messages, and v4's order of checks. Every module takes `z` from here.
 *
 * Why v3: importing zod v4 costs ~0.1 s of CPU (some 95 modules, and its schemas are costly to
 * build), which a spec error pays before it can answer; v3 costs ~0.02 s (docs/performance.md,
 * "Start-up").
 */
import { z } from "zod/v3";

export { z };

const unit: Partial<Record<string, string>> = { array: " items", string: " characters" };

/** One line per issue, naming types and bounds, never the value read (it may be anything from a file). */
const messages: z.ZodErrorMap = (issue, ctx) => {
  switch (issue.code) {
    case "invalid_type":
      return { message: issue.expected === "integer" ? "expected an integer" : `expected ${issue.expected}, received ${issue.received}` };
    case "too_small":
    case "too_big": {
      const bound = issue.code === "too_small" ? issue.minimum : issue.maximum;
      const op = issue.exact ? "=" : `${issue.code === "too_small" ? ">" : "<"}${issue.inclusive ? "=" : ""}`;
      const what = unit[issue.type] ? `${issue.type} to have ${op}${String(bound)}${unit[issue.type]}` : `${issue.type} to be ${op}${String(bound)}`;
      return { message: `${issue.code === "too_small" ? "Too small" : "Too big"}: expected ${what}` };
    }
    case "invalid_enum_value":
    case "invalid_union_discriminator":
      return { message: `Invalid option: expected one of ${issue.options.map((o) => JSON.stringify(o)).join("|")}` };
    case "invalid_literal":
      return { message: `expected ${JSON.stringify(issue.expected)}` };
    case "not_finite":
      return { message: "expected a finite number" };
    case "not_multiple_of":
      return { message: `expected a multiple of ${String(issue.multipleOf)}` };
    default:
      return { message: ctx.defaultError };
  }
};
z.setErrorMap(messages);

/**
 * A schema whose cross-field rules run once its shape parsed without an issue (as zod v4's
 * refinements do; v3's superRefine would run them on a partly invalid value, which they need not
 * guard against).
 */
export function withRules<S extends z.ZodTypeAny>(schema: S, rules: (value: z.output<S>, ctx: z.RefinementCtx) => void) {
  return schema.transform((value: z.output<S>, ctx) => {
    rules(value, ctx);
    return value;
  });
}
