/**
 * Replica builder for the training benchmarks: the named stage's model, fresh (earlier stages keep
 * their initial weights: only speed is measured).
 */
import type { Batch } from "../src/data/batch.ts";
import { PreparedDataset } from "../src/data/reader.ts";
import { recipeByName } from "../src/models/registry.ts";
import { stageModel } from "../src/run/stage-replica.ts";
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
