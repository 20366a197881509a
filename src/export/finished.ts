import { join } from "node:path";
import type { PreparedDataset } from "../data/reader.ts";
import type { CtrModel } from "../models/model.ts";
import type { ModelRecipe } from "../models/recipe.ts";
import { ablationRecipe, recipeFor } from "../models/registry.ts";
import type { LoadedExperiment } from "../run/experiment.ts";
import { modelDir, RESULT_FILE } from "../run/model-run.ts";
import { StageRunner } from "../run/stages.ts";
import { exists } from "../util/files.ts";

/** Every recipe a run of the spec trains: its models of Table 2, then its MKT ablations (as `mkt run`). */
export function runRecipes(experiment: LoadedExperiment): ModelRecipe[] {
  return [...experiment.spec.models.map(recipeFor), ...experiment.spec.ablations.map(ablationRecipe)];
}

/** Whether a (model, seed) of the run finished: trained and evaluated (its result.json exists). */
export async function isFinished(experiment: LoadedExperiment, recipe: ModelRecipe, seed: number): Promise<boolean> {
  return exists(join(modelDir(experiment.runDir, recipe.name, seed), RESULT_FILE));
}

/**
 * The trained model of a recipe for one seed, as its last stage left it: every stage loads its
 * checkpoint from the run directory instead of training. A stage that has not finished is a
 * UserError with `hint`.
 */
export async function loadFinishedModel(experiment: LoadedExperiment, dataset: PreparedDataset, recipe: ModelRecipe, seed: number, hint: string): Promise<CtrModel> {
  const runner = new StageRunner(dataset, experiment.spec, seed, experiment.runDir, { progress: false, requireFinished: { hint } });
  return (await runner.run(recipe)).model!;
}
