/**
 * Builds, in a replica worker, the model of one stage of a recipe exactly as the main thread has
 * it: the recipe runs again with a stage runner that loads every earlier stage from its finished
 * checkpoint (as a resumed run does) and stops at the requested stage, handing over its model.
 */
import type { Batch } from "../data/batch.ts";
import { PreparedDataset } from "../data/reader.ts";
import type { CtrModel } from "../models/model.ts";
import type { RecipeContext, StageOptions, StageRecord } from "../models/recipe.ts";
import { recipeByName } from "../models/registry.ts";
import type { ExperimentSpec } from "../spec/experiment.ts";
import { ctrReplicaModel, type ReplicaModel } from "../train/parallel/replica.ts";
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

/** The record of a stage that was neither trained nor loaded (only its model was wanted). */
export const untrainedStage = (stage: string): StageRecord => ({ stage, seconds: 0, epochsRun: 0, bestEpoch: 0, bestValidAuc: NaN, samplesPerSecond: 0, resumed: false });

/** For modelAtStage's earlier stages when their weights do not matter: nothing trained, nothing loaded. */
export const untrained = (name: string): Promise<StageRecord> => Promise.resolve(untrainedStage(name));

/** A stage's model and the options its recipe trains it with. */
export interface StageModel {
  model: CtrModel;
  options: StageOptions;
}

class Reached extends Error {
  constructor(readonly stage: StageModel) {
    super("reached the stage");
  }
}

/**
 * Runs recipe `recipe` until it hands its stage `stage` a model, and returns that model and the
 * stage's options (the recipe
 * stops there: later stages may change it, e.g. freeze MKT's MEM). Earlier stages go to `earlier`.
 */
export async function modelAtStage(
  recipe: string,
  stage: string,
  base: Pick<RecipeContext, "dataset" | "spec" | "seed" | "requireStage">,
  earlier: RecipeContext["stage"],
): Promise<StageModel> {
  const context: RecipeContext = {
    ...base,
    stage(name, model, options) {
      if (name === stage) throw new Reached({ model, options: options ?? {} });
      return earlier(name, model, options);
    },
  };
  try {
    await recipeByName(recipe).train(context);
  } catch (error) {
    if (error instanceof Reached) return error.stage;
    throw error;
  }
  throw new Error(`recipe ${recipe} has no stage '${stage}'`);
}

export async function buildStageReplica(args: StageReplicaArgs): Promise<CtrModel> {
  const dataset = await PreparedDataset.open(args.datasetDir);
  const runner = new StageRunner(dataset, args.spec, args.seed, args.modelDir, {
    progress: false,
    stageDirs: args.stageDirs,
    requireFinished: { hint: `a replica of stage '${args.stage}' needs the earlier stages finished` },
  });
  try {
    const base = { dataset, spec: args.spec, seed: args.seed, requireStage: runner.requireStage.bind(runner) };
    return (await modelAtStage(args.recipe, args.stage, base, runner.stage.bind(runner))).model;
  } finally {
    dataset.close();
  }
}

/** The stage's model as a replica worker trains it. */
export async function buildStageReplicaModel(args: StageReplicaArgs): Promise<ReplicaModel<Batch>> {
  return ctrReplicaModel(await buildStageReplica(args));
}
