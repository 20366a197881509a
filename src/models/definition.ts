import { z } from "../util/zod.ts";
import type { ExperimentSpec } from "../spec/experiment-common.ts";
import type { ModelCategory, ModelRecipe } from "./recipe.ts";

/** Why a spec cannot run a model: the field (path in the spec) and what is wrong with it. */
export interface SpecIssue {
  path: (string | number)[];
  message: string;
}

/**
 * Top-level spec sections a model owns, by key (usually one, named after the model): each a zod
 * schema whose every field has a default and a doc comment, so that a spec may leave it out.
 */
export type SpecSections = Record<string, z.ZodType>;

/**
 * A model of Table 2, declared in its own file and listed once in models/registry.ts: its recipe
 * (name, stages), where it stands in the report, and its own hyperparameters. The spec schema
 * (spec/experiment.ts) is composed from every registered model's sections and rules; the serving
 * export needs nothing from it (`mkt export` traces the model's predictTarget).
 * docs/architecture.md, "Adding a model", walks through one.
 */
export interface ModelDefinition<S extends SpecSections = SpecSections> extends ModelRecipe {
  /** Its row in the report, e.g. "FiBiNet". */
  label: string;
  /** Table 2 groups and orders its rows by category. */
  category: Exclude<ModelCategory, "reference">;
  /** Its own hyperparameters: spec sections checked (and filled with their defaults) in every spec. */
  sections?: S;
  /**
   * Rules between spec fields the model needs when it runs (e.g. sizes it cannot be built with),
   * checked before anything is prepared or trained: each broken one is an issue.
   */
  rules?: (spec: ExperimentSpec) => SpecIssue[];
}

/** The older spellings of each section's fields (modelSection's movedFrom), by section schema. */
const movedFrom = new WeakMap<z.ZodType, Record<string, string>>();

/**
 * The schema of a section of a model's own fields: a strict object (an unknown field is an error),
 * each field with its default, the whole section defaulting to those (a spec may leave it out).
 * `movedFrom` names a field's spelling in older specs (field → old dotted path, e.g. experts →
 * "sizes.mmoe_experts"): read as the field, so older specs and run directories (experiment.json)
 * still load.
 */
export function modelSection<T extends z.ZodRawShape>(fields: T, options: { movedFrom?: Partial<Record<keyof T & string, string>> } = {}) {
  const section = z.strictObject(fields).default({} as z.input<z.ZodObject<T, "strict">>);
  if (options.movedFrom !== undefined) movedFrom.set(section, options.movedFrom as Record<string, string>);
  return section;
}

/** The older spellings of a section's fields, as [old path, path now] (the section at top-level key `key`). */
export function movedFieldsOf(key: string, section: z.ZodType): [string, string][] {
  return Object.entries(movedFrom.get(section) ?? {}).map(([field, old]) => [old, `${key}.${field}`]);
}

/** A model definition as written (the identity; it keeps the sections' types for sectionsOf). */
export function defineModel<S extends SpecSections>(definition: ModelDefinition<S>): ModelDefinition<S> {
  return definition;
}

/** A model's own sections of a spec, typed, with their defaults where the spec lacks one (a spec built in code). */
export function sectionsOf<S extends SpecSections>(sections: S, spec: ExperimentSpec): z.output<z.ZodObject<S>> {
  return z.object(sections).parse(spec);
}
