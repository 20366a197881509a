import { withRules, z } from "../util/zod.ts";
import { MAX_NAME_CHARS, specPath } from "./common.ts";

/**
 * A suite spec: one experiment repeated over settings of the built-in generator, each setting a
 * variant with its own prepared dataset and run (docs/specs.md, "Suite specs"). `variants` lists
 * settings by hand (e.g. one mechanism each, with the models that can use it); `sweep` takes the
 * cartesian product of generator values (e.g. ρ × source:target).
 */
const generatorValue = z.union([z.number(), z.boolean(), z.string()]);
const variantName = z.string().max(24).regex(/^[a-z][a-z0-9_-]*$/, "expected a short lower-case name of letters, digits, - and _");

export const variantSchema = z.strictObject({
  name: variantName,
  /** What the setting plants and for whom: shown in the suite report. */
  about: z.string().optional(),
  /** Generator fields set for this variant, over the base dataset's generator. */
  generator: z.record(z.string(), generatorValue).default({}),
  /** Models of this variant (default: the experiment's). */
  models: z.array(z.string()).min(1).optional(),
});

export const suiteSpecSchema = withRules(
  z.strictObject({
    name: z.string().max(MAX_NAME_CHARS - 30).regex(/^[a-z][a-z0-9_-]*$/, "expected a lower-case name of letters, digits, - and _"),
    description: z.string().optional(),
    /** The base dataset spec (it must have a generator), relative to this file. */
    dataset: specPath,
    /** The fields of every variant's experiment spec but name and dataset (docs/specs.md, experiment specs). */
    experiment: z.record(z.string(), z.unknown()).default({}),
    variants: z.array(variantSchema).min(1).optional(),
    /** Generator field → values; one variant per combination, the first field varying slowest. */
    sweep: z.record(z.string(), z.array(generatorValue).min(1)).optional(),
  }),
  (s, ctx) => {
    if ((s.variants === undefined) === (s.sweep === undefined)) ctx.addIssue({ code: "custom", path: ["variants"], message: "give variants or sweep (exactly one)" });
    for (const key of ["name", "dataset"]) {
      if (key in s.experiment) ctx.addIssue({ code: "custom", path: ["experiment", key], message: "set by the suite for each variant; remove it here" });
    }
    const names = s.variants?.map((v) => v.name) ?? [];
    const twice = names.findIndex((n, i) => names.indexOf(n) !== i);
    if (twice >= 0) ctx.addIssue({ code: "custom", path: ["variants", twice, "name"], message: `'${names[twice]}' is used twice` });
  },
);

export type SuiteSpec = z.output<typeof suiteSpecSchema>;
export type VariantSpec = z.output<typeof variantSchema>;

/** The variants of a suite: its list, or one per combination of the sweep's values (name: field-value pairs, short). */
export function expandVariants(spec: SuiteSpec): VariantSpec[] {
  if (spec.variants) return spec.variants;
  let combos: Record<string, z.output<typeof generatorValue>>[] = [{}];
  for (const [field, values] of Object.entries(spec.sweep!)) combos = combos.flatMap((c) => values.map((v) => ({ ...c, [field]: v })));
  return combos.map((generator) => ({ name: sweepName(generator), generator }));
}

/** e.g. {taste_correlation: -0.5, source_per_target: 3} → "tc-m0p5_spt-3": initials of each field, "m" for minus, "p" for the point. */
function sweepName(generator: Record<string, unknown>): string {
  return Object.entries(generator)
    .map(([field, value]) => {
      const initials = field.split("_").map((w) => w[0]).join("");
      return `${initials}-${String(value).replace(/^-/, "m").replace(/\./g, "p").replace(/[^a-z0-9]/gi, "").toLowerCase()}`;
    })
    .join("_");
}
