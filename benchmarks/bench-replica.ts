/**
 * Replica builder for the training benchmarks: the named stage's model, fresh (earlier stages keep
 * their initial weights: only speed is measured).
 */
import type { Batch } from "../src/data/batch.ts";
import { PreparedDataset } from "../src/data/reader.ts";
import { recipeByName } from "../src/models/registry.ts";
import type { CtrModel } from "../src/models/model.ts";
import { buildContext, type ModelRecipe, type Stage } from "../src/models/recipe.ts";
import { buildRecipeModel } from "../src/run/stage-replica.ts";
import type { ExperimentSpec } from "../src/spec/experiment.ts";
import { ctrReplicaModel, type ReplicaModel } from "../src/train/parallel/replica.ts";

export interface BenchReplicaArgs {
  datasetDir: string;
  spec: ExperimentSpec;
  recipe: string;
  stage: string;
}

export async function buildBenchReplica(args: BenchReplicaArgs): Promise<ReplicaModel<Batch>> {
  const dataset = await PreparedDataset.open(args.datasetDir);
  try {
    return ctrReplicaModel((await stageModel(recipeByName(args.recipe), dataset, args.spec, 1, args.stage)).model);
  } finally {
    dataset.close();
  }
}

/** The model of a named stage as it starts, fresh (earlier stages untrained), and the stage (benchmarks, tests). */
export async function stageModel(recipe: ModelRecipe, dataset: PreparedDataset, spec: ExperimentSpec, seed: number, name: string): Promise<{ stage: Stage; model: CtrModel }> {
  const context = buildContext(dataset, spec, seed);
  const stage = (await recipe.stages(context, dataset)).find((s) => s.name === name);
  if (stage === undefined) throw new Error(`recipe ${recipe.name} has no stage '${name}'`);
  const model = buildRecipeModel(recipe, context, stage.model);
  if (stage.thaw) model.module.setTrainable(true);
  return { stage, model };
}
