import { withRules, z } from "../util/zod.ts";
import { movedFieldsOf, type ModelDefinition, type SpecIssue } from "../models/definition.ts";
import { modelDefinitions, recipeFor, trainedModels } from "../models/registry.ts";
import { commonShape, type ExperimentSpec } from "./experiment-common.ts";

export type { ExperimentSpec } from "./experiment-common.ts";

interface ExperimentSchemas {
  /** The shape: common fields and every model's sections, defaults filled. */
  spec: z.ZodType;
  /** The shape and the rules between fields (docs/specs.md, "Validation"). */
  file: z.ZodType;
}

/** The schemas composed for each list of registered models (registerModel replaces the list). */
const composed = new WeakMap<readonly ModelDefinition[], ExperimentSchemas>();

function schemasFor(models: readonly ModelDefinition[]): ExperimentSchemas {
  const schemas = composed.get(models) ?? compose(models);
  composed.set(models, schemas);
  return schemas;
}

/** The common fields and every model's sections (a section taken twice, or without a default, is a programming error). */
function compose(models: readonly ModelDefinition[]): ExperimentSchemas {
  const shape: Record<string, z.ZodType> = { ...commonShape(models.map((m) => m.name) as [string, ...string[]]) };
  for (const model of models) {
    for (const [key, schema] of Object.entries(model.sections ?? {})) {
      if (key in shape) throw new Error(`model ${model.name}: its spec section '${key}' is a field of the spec already`);
      if (!schema.safeParse(undefined).success) throw new Error(`model ${model.name}: its spec section '${key}' needs a default (a spec may leave it out)`);
      shape[key] = schema;
    }
  }
  const moved = models.flatMap((m) => Object.entries(m.sections ?? {}).flatMap(([key, section]) => movedFieldsOf(key, section)));
  const spec = z.preprocess((raw, ctx) => readMovedFields(raw, moved, ctx), z.strictObject(shape));
  const file = withRules(spec, (value, ctx) => {
    for (const issue of specRuleIssues(value as ExperimentSpec)) ctx.addIssue({ code: "custom", ...issue });
  });
  return { spec, file };
}

/**
 * The rules between fields (docs/specs.md, "Validation"): nothing listed twice, the reference model
 * among the models, and the rules of each model the spec trains.
 */
function specRuleIssues(spec: ExperimentSpec): SpecIssue[] {
  const issues: SpecIssue[] = [];
  // A repeated seed or model would be counted by the report as another independent run (in its mean, std and p-value).
  for (const key of ["seeds", "models", "ablations"] as const) {
    const list: readonly (string | number)[] = spec[key];
    const at = list.findIndex((x, i) => list.indexOf(x) !== i);
    if (at >= 0) issues.push({ path: [key, at], message: `${String(list[at])} is listed twice` });
  }
  if (!spec.models.includes(spec.reference_model)) {
    issues.push({
      path: ["reference_model"],
      message: `'${spec.reference_model}' is not among models (${spec.models.join(", ")}); Table 3 is relative to it: set it to one of them`,
    });
  }
  for (const model of trainedModels(spec)) issues.push(...(model.rules?.(spec) ?? []));
  return issues;
}

type Json = Record<string, unknown>;
const isObject = (x: unknown): x is Json => typeof x === "object" && x !== null && !Array.isArray(x);

/**
 * A copy of the raw spec with each field of an older spelling (modelSection's movedFrom) moved
 * to its path now; both spellings at once is an issue.
 */
function readMovedFields(raw: unknown, moved: ReadonlyArray<[string, string]>, ctx: z.RefinementCtx): unknown {
  if (!isObject(raw) || moved.length === 0) return raw;
  const spec: Json = structuredClone(raw);
  for (const [from, to] of moved) {
    const [fromParent, fromKey] = parentOf(spec, from.split("."), false);
    if (fromParent === undefined || !(fromKey in fromParent)) continue;
    const [toParent, toKey] = parentOf(spec, to.split("."), true);
    if (toParent === undefined) continue; // the new section is not an object: the schema says so.
    if (toKey in toParent) {
      ctx.addIssue({ code: "custom", path: from.split("."), message: `also given as ${to}, its name now: keep only that one` });
      continue;
    }
    toParent[toKey] = fromParent[fromKey];
    delete fromParent[fromKey];
  }
  return spec;
}

/** The object holding the last key of `path`, and that key; `create`: make missing objects on the way. */
function parentOf(spec: Json, path: string[], create: boolean): [Json | undefined, string] {
  let node: Json = spec;
  for (const key of path.slice(0, -1)) {
    if (node[key] === undefined && create) node[key] = {};
    const next = node[key];
    if (!isObject(next)) return [undefined, path.at(-1)!];
    node = next;
  }
  return [node, path.at(-1)!];
}

/** Validates through the schemas composed for the models registered when it parses. */
function composedNow(pick: keyof ExperimentSchemas) {
  return z.unknown().transform((raw, ctx): ExperimentSpec => {
    const result = schemasFor(modelDefinitions())[pick].safeParse(raw);
    if (result.success) return result.data as ExperimentSpec;
    for (const issue of result.error.issues) ctx.addIssue(issue);
    return z.NEVER;
  });
}

/** The shape of an experiment spec, defaults filled (also of the spec kept in a run's experiment.json). */
export const experimentSpecSchema = composedNow("spec");

/**
 * An experiment spec file: the shape and the rules between its fields (docs/specs.md, "Validation"),
 * checked before anything is prepared or trained.
 */
export const experimentSpecFileSchema = composedNow("file");

/**
 * The spec file's schema for a command that trains `alsoTrains` whatever the spec's models (`mkt
 * pretrain` trains MKT): their rules are checked with the others and reported the same way.
 */
export function experimentSpecFileSchemaFor(alsoTrains: readonly string[]): z.ZodType<ExperimentSpec, z.ZodTypeDef, unknown> {
  if (alsoTrains.length === 0) return experimentSpecFileSchema;
  return withRules(experimentSpecFileSchema, (spec, ctx) => {
    for (const name of alsoTrains) for (const issue of recipeFor(name).rules?.(spec) ?? []) ctx.addIssue({ code: "custom", ...issue });
  });
}
