/**
 * What a replica worker builds: the model of one stage of a recipe, from the stage's description
 * alone (the recipe, the model the stage trains, the run's spec and seed, the prepared schema). Its
 * weights do not matter: the main thread sends every value before training starts.
 */
import type { Batch } from "../data/batch.ts";
import { readPreparedSchema } from "../data/schema.ts";
import type { CtrModel } from "../models/model.ts";
import { RecipeModels, type BuildContext, type ModelRecipe } from "../models/recipe.ts";
import { recipeByName } from "../models/registry.ts";
import type { ExperimentSpec } from "../spec/experiment-common.ts";
import { ctrReplicaModel, type ReplicaModel } from "../train/parallel/replica.ts";

export interface StageReplicaArgs {
  datasetDir: string;
  spec: ExperimentSpec;
  seed: number;
  /** Recipe directory name, e.g. "mkt" or "mkt-wo_pdl". */
  recipe: string;
  /** Key of the recipe model the stage trains. */
  model: string;
}

/** A recipe model built fresh, with the models it owns; the models it was built from are released. */
export function buildRecipeModel(recipe: ModelRecipe, context: BuildContext, key: string): CtrModel {
  const models = new RecipeModels(recipe, context);
  const model = models.get(key);
  models.release(new Set([key]));
  return model;
}

/** The stage's model as a replica worker trains it. */
export async function buildStageReplicaModel(args: StageReplicaArgs): Promise<ReplicaModel<Batch>> {
  const schema = await readPreparedSchema(args.datasetDir);
  return ctrReplicaModel(buildRecipeModel(recipeByName(args.recipe), { schema, spec: args.spec, seed: args.seed }, args.model));
}
