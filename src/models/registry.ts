import type { ExperimentSpec } from "../spec/experiment-common.ts";
import { conetRecipe } from "./baselines/conet.ts";
import { ctnetRecipe } from "./baselines/ctnet.ts";
import { dinRecipe } from "./baselines/din.ts";
import { fibinetRecipe } from "./baselines/fibinet.ts";
import { finetuneRecipe } from "./baselines/finetune.ts";
import { minetRecipe } from "./baselines/minet.ts";
import { mlpRecipe } from "./baselines/mlp.ts";
import { mmoeRecipe } from "./baselines/mmoe.ts";
import { pleRecipe } from "./baselines/ple.ts";
import { starRecipe } from "./baselines/star.ts";
import type { ModelDefinition } from "./definition.ts";
import { ABLATION_NAMES, mktRecipeName, type AblationName } from "./mkt/ablations.ts";
import { mktRecipe } from "./mkt/recipe.ts";
import { MODEL_CATEGORIES, type ModelRecipe } from "./recipe.ts";

/**
 * Every model of Table 2, in the order a spec's `models` defaults to (the report orders its rows by
 * category). Adding a model: its file, and one line here (docs/architecture.md, "Adding a model").
 */
const BUILT_IN: readonly ModelDefinition[] = [
  mktRecipe(),
  mlpRecipe,
  dinRecipe,
  fibinetRecipe,
  mmoeRecipe,
  pleRecipe,
  starRecipe,
  conetRecipe,
  minetRecipe,
  finetuneRecipe,
  ctnetRecipe,
];

/** The registered models; replaced (never changed in place) by registerModel, so a composed spec schema can be cached per list. */
let models: readonly ModelDefinition[] = Object.freeze([...BUILT_IN]);

const MODEL_NAME = /^[a-z][a-z0-9_]*$/;

/**
 * Adds a model defined outside this list (a test's, or a plug-in's) to this process's registry: spec
 * validation, `mkt run` and the report know it from then on. Data-parallel replicas do not (their
 * worker threads import only this list): such a model trains with `--workers 1`.
 */
export function registerModel(model: ModelDefinition): void {
  if (!MODEL_NAME.test(model.name)) throw new Error(`model name '${model.name}': expected lower-case letters, digits and _`);
  if (models.some((m) => m.name === model.name) || ABLATION_NAMES.some((a) => mktRecipeName(a) === model.name)) {
    throw new Error(`a model named '${model.name}' is already registered`);
  }
  models = Object.freeze([...models, model]);
}

export function modelDefinitions(): readonly ModelDefinition[] {
  return models;
}

export function modelNames(): string[] {
  return models.map((m) => m.name);
}

/** The model of Table 2 named `name` (its recipe trains it). */
export function recipeFor(name: string): ModelDefinition {
  const model = models.find((m) => m.name === name);
  if (model === undefined) throw new Error(`no model named '${name}'`);
  return model;
}

export function ablationRecipe(ablation: AblationName): ModelRecipe {
  return mktRecipe(ablation);
}

/** A recipe by its directory name: a model of Table 2 or "mkt-<ablation>". */
export function recipeByName(name: string): ModelRecipe {
  const model = models.find((m) => m.name === name);
  if (model !== undefined) return model;
  const ablation = ABLATION_NAMES.find((a) => mktRecipeName(a) === name);
  if (ablation === undefined) throw new Error(`no model or ablation named '${name}'`);
  return ablationRecipe(ablation);
}

/** The models a spec trains: its `models`, and MKT when it has ablations (each is an MKT). */
export function trainedModels(spec: Pick<ExperimentSpec, "models" | "ablations">): ModelDefinition[] {
  const names = new Set(spec.models);
  if (spec.ablations.length > 0) names.add(mktRecipeName());
  return models.filter((m) => names.has(m.name));
}

/** Table 2's rows: the models grouped by category in the table's order, in registry order within a category. */
export function table2Order(): ModelDefinition[] {
  return MODEL_CATEGORIES.flatMap((category) => models.filter((m) => m.category === category));
}
