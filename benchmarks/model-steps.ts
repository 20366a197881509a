/**
 * Training and inference throughput of every training stage of every model, measured on the
 * models exactly as their recipes build them: a RecipeContext that, instead of training a stage,
 * times trainStep (the trainer's own step: batch → tensors, Adam step, loss read back) on batches
 * read beforehand, then lets the recipe go on to its next stage.
 */
import * as tf from "@tensorflow/tfjs";
import type { Batch, EntityName } from "../src/data/batch.ts";
import type { PreparedDataset } from "../src/data/reader.ts";
import type { CtrModel } from "../src/models/model.ts";
import type { ModelRecipe, RecipeContext, StageOptions, StageRecord } from "../src/models/recipe.ts";
import type { ExperimentSpec } from "../src/spec/experiment.ts";
import { predictBatch } from "../src/train/evaluate.ts";
import { trainStep } from "../src/train/trainer.ts";

export interface StageThroughput {
  model: string;
  stage: string;
  entities: EntityName[];
  batchSize: number;
  /** Median over timed steps. */
  trainSamplesPerSecond: number;
  /** Target-path prediction at eval_batch_size, median over batches. */
  evalSamplesPerSecond: number;
  /** Highest RSS seen during this stage's steps. */
  peakRssMiB: number;
  trainableParameters: number;
}

export interface StepBenchOptions {
  warmupSteps: number;
  timedSteps: number;
  /** Distinct batches cycled through (read once, before timing). */
  batches: number;
  evalBatches: number;
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function readBatches(dataset: PreparedDataset, options: Parameters<PreparedDataset["batches"]>[0], count: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const batch of dataset.batches(options)) {
    out.push(batch);
    if (out.length === count) break;
  }
  return out;
}

const rssMiB = () => process.memoryUsage().rss / 2 ** 20;

/** Times one stage's model; the caller's recipe continues afterwards with the weights as they are. */
export async function measureStage(
  dataset: PreparedDataset,
  spec: ExperimentSpec,
  model: CtrModel,
  entities: EntityName[],
  options: StepBenchOptions,
): Promise<Omit<StageThroughput, "model" | "stage">> {
  const batchSize = spec.training.batch_size;
  const train = await readBatches(dataset, { split: "train", entities, batchSize, shuffle: { bufferRows: 65_536, seed: 1 } }, options.batches);
  const evalBatches = await readBatches(dataset, { split: "test", entities: ["target"], batchSize: spec.training.eval_batch_size }, options.evalBatches);
  const optimizer = tf.train.adam(spec.training.learning_rate);
  const variables = model.trainableVariables();
  let peak = rssMiB();
  const stepMs: number[] = [];
  try {
    for (let i = 0; i < options.warmupSteps + options.timedSteps; i++) {
      const batch = train[i % train.length]!;
      const t0 = performance.now();
      await trainStep(model, optimizer, variables, batch);
      if (i >= options.warmupSteps) stepMs.push((performance.now() - t0) / batch.size);
      peak = Math.max(peak, rssMiB());
    }
    const evalMs: number[] = [];
    await predictBatch(model, evalBatches[0]!); // warm-up: eval shapes differ from training's
    for (const batch of evalBatches) {
      const t0 = performance.now();
      await predictBatch(model, batch);
      evalMs.push((performance.now() - t0) / batch.size);
    }
    return {
      entities,
      batchSize,
      trainSamplesPerSecond: 1000 / median(stepMs),
      evalSamplesPerSecond: 1000 / median(evalMs),
      peakRssMiB: peak,
      trainableParameters: variables.reduce((n, v) => n + v.size, 0),
    };
  } finally {
    optimizer.dispose();
  }
}

/** Runs a recipe with every stage measured instead of trained. */
export async function measureRecipe(
  recipe: ModelRecipe,
  dataset: PreparedDataset,
  spec: ExperimentSpec,
  options: StepBenchOptions,
): Promise<StageThroughput[]> {
  const results: StageThroughput[] = [];
  const context: RecipeContext = {
    dataset,
    spec,
    seed: 1,
    async stage(name: string, model: CtrModel, stageOptions: StageOptions = {}): Promise<StageRecord> {
      const entities = [...(stageOptions.entities ?? model.trainEntities)];
      const measured = await measureStage(dataset, spec, model, entities, options);
      results.push({ model: recipe.name, stage: name, ...measured });
      return { stage: name, seconds: 0, epochsRun: 0, bestEpoch: 0, bestValidAuc: NaN, samplesPerSecond: measured.trainSamplesPerSecond, resumed: false };
    },
    requireStage: () => Promise.resolve(),
  };
  const final = await recipe.train(context);
  final.module.dispose();
  return results;
}
