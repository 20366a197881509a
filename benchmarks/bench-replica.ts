/**
 * Replica builder for the training benchmarks: runs a recipe up to the named stage without
 * training or loading anything (earlier stages keep their initial weights: only speed is measured)
 * and hands over that stage's model.
 */
import type { Batch } from "../src/data/batch.ts";
import { PreparedDataset } from "../src/data/reader.ts";
import { modelAtStage, untrained } from "../src/run/stage-replica.ts";
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
    const base = { dataset, spec: args.spec, seed: 1, requireStage: () => Promise.resolve() };
    return ctrReplicaModel((await modelAtStage(args.recipe, args.stage, base, untrained)).model);
  } finally {
    dataset.close();
  }
}
