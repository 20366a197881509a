/**
 * Replica builder for the training benchmark: runs a recipe up to the named stage without
 * training or loading anything (earlier stages keep their initial weights: only speed is measured)
 * and hands over that stage's model.
 */
import type { Batch } from "../src/data/batch.ts";
import { PreparedDataset } from "../src/data/reader.ts";
import type { CtrModel } from "../src/models/model.ts";
import type { RecipeContext, StageRecord } from "../src/models/recipe.ts";
import { recipeByName } from "../src/models/registry.ts";
import type { ExperimentSpec } from "../src/spec/experiment.ts";
import { ctrReplicaModel, type ReplicaModel } from "../src/train/parallel/replica.ts";

export interface BenchReplicaArgs {
  datasetDir: string;
  spec: ExperimentSpec;
  recipe: string;
  stage: string;
}

export const untrainedStage = (stage: string): StageRecord => ({ stage, seconds: 0, epochsRun: 0, bestEpoch: 0, bestValidAuc: NaN, samplesPerSecond: 0, resumed: false });

class Reached extends Error {
  constructor(readonly model: CtrModel) {
    super("reached the stage");
  }
}

/** Stops the recipe at the stage (later stages may freeze this stage's model, e.g. MKT's MEM). */
export async function buildBenchReplica(args: BenchReplicaArgs): Promise<ReplicaModel<Batch>> {
  const dataset = await PreparedDataset.open(args.datasetDir);
  const context: RecipeContext = {
    dataset,
    spec: args.spec,
    seed: 1,
    stage(name, model) {
      if (name === args.stage) throw new Reached(model);
      return Promise.resolve(untrainedStage(name));
    },
    requireStage: () => Promise.resolve(),
  };
  try {
    await recipeByName(args.recipe).train(context);
  } catch (error) {
    if (error instanceof Reached) return ctrReplicaModel(error.model);
    throw error;
  } finally {
    dataset.close();
  }
  throw new Error(`recipe ${args.recipe} has no stage '${args.stage}'`);
}
