/**
 * Replica builder for the training benchmarks: runs a recipe up to the named stage without
 * training or loading anything (earlier stages keep their initial weights: only speed is measured)
 * and hands over that stage's model.
 */
import type { Batch } from "../src/data/batch.ts";
import { PreparedDataset } from "../src/data/reader.ts";
import type { StageRecord } from "../src/models/recipe.ts";
import { modelAtStage } from "../src/run/stage-replica.ts";
import type { ExperimentSpec } from "../src/spec/experiment.ts";
import { ctrReplicaModel, type ReplicaModel } from "../src/train/parallel/replica.ts";

export interface BenchReplicaArgs {
  datasetDir: string;
  spec: ExperimentSpec;
  recipe: string;
  stage: string;
}

export const untrainedStage = (stage: string): StageRecord => ({ stage, seconds: 0, epochsRun: 0, bestEpoch: 0, bestValidAuc: NaN, samplesPerSecond: 0, resumed: false });

/** For stages before the measured one: nothing trained, nothing loaded. */
export const untrained = (name: string): Promise<StageRecord> => Promise.resolve(untrainedStage(name));

export async function buildBenchReplica(args: BenchReplicaArgs): Promise<ReplicaModel<Batch>> {
  const dataset = await PreparedDataset.open(args.datasetDir);
  try {
    const base = { dataset, spec: args.spec, seed: 1, requireStage: () => Promise.resolve() };
    return ctrReplicaModel((await modelAtStage(args.recipe, args.stage, base, untrained)).model);
  } finally {
    dataset.close();
  }
}
