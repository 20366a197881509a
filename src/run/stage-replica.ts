/**
 * Builds, in a replica worker, the model of one stage of a recipe exactly as the main thread has
 * it: the recipe runs again with a stage runner that loads every earlier stage from its finished
 * checkpoint (as a resumed run does) and stops at the requested stage, handing over its model.
 */
import type { Batch } from "../data/batch.ts";
import { PreparedDataset } from "../data/reader.ts";
import { ctrReplicaModel, type ReplicaModel } from "../train/parallel/replica.ts";
import type { CtrModel } from "../models/model.ts";
import type { RecipeContext, StageOptions, StageRecord } from "../models/recipe.ts";
import { recipeByName } from "../models/registry.ts";
import type { ExperimentSpec } from "../spec/experiment.ts";
import { StageRunner } from "./stages.ts";

export interface StageReplicaArgs {
  datasetDir: string;
  spec: ExperimentSpec;
  seed: number;
  /** Recipe directory name, e.g. "mkt" or "mkt-wo_pdl". */
  recipe: string;
  stage: string;
  modelDir: string;
  stageDirs: Record<string, string>;
}

class Reached extends Error {
  constructor(readonly model: CtrModel) {
    super("reached the stage");
  }
}

/** The stage's model as a replica worker trains it. */
export async function buildStageReplicaModel(args: StageReplicaArgs): Promise<ReplicaModel<Batch>> {
  return ctrReplicaModel(await buildStageReplica(args));
}

export async function buildStageReplica(args: StageReplicaArgs): Promise<CtrModel> {
  const dataset = await PreparedDataset.open(args.datasetDir);
  const runner = new StageRunner(dataset, args.spec, args.seed, args.modelDir, {
    progress: false,
    stageDirs: args.stageDirs,
    requireFinished: { hint: `a replica of stage '${args.stage}' needs the earlier stages finished` },
  });
  const context: RecipeContext = {
    dataset,
    spec: args.spec,
    seed: args.seed,
    stage(name: string, model: CtrModel, options?: StageOptions): Promise<StageRecord> {
      if (name === args.stage) throw new Reached(model);
      return runner.stage(name, model, options);
    },
    requireStage: (name, model, hint) => runner.requireStage(name, model, hint),
  };
  try {
    await recipeByName(args.recipe).train(context);
  } catch (error) {
    if (error instanceof Reached) return error.model;
    throw error;
  } finally {
    dataset.close();
  }
  throw new Error(`recipe ${args.recipe} has no stage '${args.stage}'`);
}
