/**
 * Training and inference throughput of every training stage of a model, measured on the model
 * exactly as its recipe builds it: the stage runner with a visit that, instead of training a stage, times the
 * trainer's own step (batch → tensors, Adam step, loss read back) on batches read beforehand, in
 * this thread and across data-parallel replicas, then lets the recipe go on to its next stage.
 */
import * as tf from "@tensorflow/tfjs";
import type { Batch, EntityName } from "../src/data/batch.ts";
import type { PreparedDataset } from "../src/data/reader.ts";
import type { BackendInfo } from "../src/engine/backend.ts";
import type { CtrModel } from "../src/models/model.ts";
import { buildContext, type ModelRecipe, type Stage, type StageRecord } from "../src/models/recipe.ts";
import type { ExperimentSpec } from "../src/spec/experiment.ts";
import { predictBatch } from "../src/models/batch-loop.ts";
import { readerBatchRows, ReplicaGroup } from "../src/train/parallel/group.ts";
import { ctrReplicaModel } from "../src/train/parallel/replica.ts";
import { Adam } from "../src/train/adam.ts";
import { trainStep } from "../src/train/trainer.ts";
import { runStages } from "../src/run/stages.ts";
import type { BenchReplicaArgs } from "./bench-replica.ts";
import { median } from "./stats.ts";

export interface StageThroughput {
  model: string;
  stage: string;
  entities: EntityName[];
  batchSize: number;
  trainableParameters: number;
  /** Median over timed steps, this thread alone. */
  trainSamplesPerSecond: number;
  /** The same with `replicas` data-parallel replicas (absent when replicas ≤ 1). */
  parallel?: { replicas: number; trainSamplesPerSecond: number; evalSamplesPerSecond: number };
  /** Target-path prediction at eval_batch_size, median over batches. */
  evalSamplesPerSecond: number;
  /** Matrix-multiply work of one training step per sample (forward and backward), from a profiled step. */
  matmulMflopPerSample: number;
}

const MATMUL_KERNELS = new Set(["BatchMatMul", "_FusedMatMul"]);
const sizeOf = (shape: readonly number[]) => shape.reduce((n, d) => n * d, 1);

/**
 * FLOPs of one profiled matmul from its shapes alone (the transposes are not recorded): for
 * C[b, m, n] = A[b, m, k]·B[b, k, n], |A|·|B|·|C| = b³(mkn)², so 2bmkn = 2·√(|A|·|B|·|C| / b).
 */
export function matmulFlops(inputShapes: readonly number[][], outputShape: readonly number[]): number {
  const [a, b] = inputShapes;
  if (a === undefined || b === undefined) return 0;
  const c = sizeOf(outputShape);
  const batch = c / sizeOf(outputShape.slice(-2));
  return 2 * Math.sqrt((sizeOf(a) * sizeOf(b) * c) / batch);
}

/** Matmul FLOPs per sample of one training step of `model` on `batch`. */
async function matmulFlopsPerSample(model: CtrModel, batch: Batch, learningRate: number): Promise<number> {
  const optimizer = new Adam(learningRate);
  try {
    const profile = await tf.profile(() => trainStep(model, optimizer, model.trainableVariables(), batch));
    let flops = 0;
    for (const k of profile.kernels) {
      if (MATMUL_KERNELS.has(k.name)) flops += matmulFlops(k.inputShapes, k.outputShapes[0] ?? []);
    }
    return flops / batch.size;
  } finally {
    optimizer.dispose();
  }
}

export interface StepBenchOptions {
  warmupSteps: number;
  timedSteps: number;
  /** Distinct batches cycled through (read once, before timing). */
  batches: number;
  evalBatches: number;
  replicas: number;
}

async function readBatches(dataset: PreparedDataset, options: Parameters<PreparedDataset["batches"]>[0], count: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const batch of dataset.batches(options)) {
    out.push(batch);
    if (out.length === count) break;
  }
  return out;
}

/** Median samples/s of `step` over the timed steps, after the warm-up ones. */
async function timeSteps(batches: readonly Batch[], options: StepBenchOptions, step: (batch: Batch) => Promise<unknown>): Promise<number> {
  const perSample: number[] = [];
  for (let i = 0; i < options.warmupSteps + options.timedSteps; i++) {
    const batch = batches[i % batches.length]!;
    const t0 = performance.now();
    await step(batch);
    if (i >= options.warmupSteps) perSample.push((performance.now() - t0) / batch.size);
  }
  return 1000 / median(perSample);
}

/** Median samples/s of `predict` over the batches, after one warm-up call (eval shapes differ from training's). */
async function timeEval(batches: readonly Batch[], predict: (batch: Batch) => Promise<Float32Array>): Promise<number> {
  await predict(batches[0]!);
  const perSample: number[] = [];
  for (const batch of batches) {
    const t0 = performance.now();
    await predict(batch);
    perSample.push((performance.now() - t0) / batch.size);
  }
  return 1000 / median(perSample);
}

interface StageToMeasure extends MeasuredStage {
  recipe: string;
}

async function measureStage(dataset: PreparedDataset, spec: ExperimentSpec, backend: BackendInfo, s: StageToMeasure, options: StepBenchOptions): Promise<StageThroughput> {
  const batchSize = spec.training.batch_size;
  const train = await readBatches(dataset, { split: "train", entities: s.entities, batchSize, shuffle: { bufferRows: 65_536, seed: 1 } }, options.batches);
  const evalBatches = await readBatches(dataset, { split: "test", entities: ["target"], batchSize: spec.training.eval_batch_size }, options.evalBatches);
  const variables = s.model.trainableVariables();
  // Parallel first: the single-thread Adam steps below would otherwise move the weights the replicas start from (harmless, but keep it clean).
  let parallel: StageThroughput["parallel"];
  if (options.replicas > 1) {
    const args: BenchReplicaArgs = { datasetDir: dataset.dir, spec, recipe: s.recipe, stage: s.stage };
    const factory = { module: new URL("./bench-replica.ts", import.meta.url).href, exportName: "buildBenchReplica", args };
    const group = await ReplicaGroup.start(ctrReplicaModel(s.model), readerBatchRows, {
      replicas: options.replicas,
      factory,
      learningRate: spec.training.learning_rate,
      backend: backend.name,
      kernelOverrides: backend.kernelOverrides.length > 0,
    });
    try {
      const trainSamplesPerSecond = await timeSteps(train, options, (b) => group.step(b));
      parallel = { replicas: options.replicas, trainSamplesPerSecond, evalSamplesPerSecond: await timeEval(evalBatches, (b) => group.predict(b)) };
    } finally {
      await group.close();
    }
  }
  const optimizer = new Adam(spec.training.learning_rate);
  try {
    const trainSamplesPerSecond = await timeSteps(train, options, (b) => trainStep(s.model, optimizer, variables, b));
    const evalSamplesPerSecond = await timeEval(evalBatches, (b) => predictBatch(s.model, b));
    const matmulMflopPerSample = (await matmulFlopsPerSample(s.model, train[0]!, spec.training.learning_rate)) / 1e6;
    return {
      model: s.recipe,
      stage: s.stage,
      entities: s.entities,
      batchSize,
      trainableParameters: variables.reduce((n, v) => n + v.size, 0),
      trainSamplesPerSecond,
      ...(parallel ? { parallel } : {}),
      evalSamplesPerSecond,
      matmulMflopPerSample,
    };
  } finally {
    optimizer.dispose();
  }
}

/** A stage to measure: its model as the recipe built it (earlier stages measured, not trained) and the rows it trains on. */
export interface MeasuredStage {
  stage: string;
  model: CtrModel;
  entities: EntityName[];
}

/**
 * Runs every stage of `recipe` through the stage runner with `measure` in place of training, in
 * order, and disposes the final model: benchmarks time each stage on the model exactly as built.
 */
export async function measureStages(recipe: ModelRecipe, dataset: PreparedDataset, spec: ExperimentSpec, measure: (s: MeasuredStage) => Promise<void>): Promise<void> {
  const context = buildContext(dataset, spec, 1);
  const visit = async ({ name, options = {} }: Stage, model: CtrModel): Promise<StageRecord> => {
    await measure({ stage: name, model, entities: [...(options.entities ?? model.trainEntities)] });
    return { stage: name, seconds: 0, epochsRun: 0, bestEpoch: 0, bestValidAuc: NaN, samplesPerSecond: 0, resumed: false };
  };
  const { model } = await runStages(recipe, context, await recipe.stages(context, dataset), visit);
  model?.module.dispose();
}

/** Runs a recipe with every stage measured instead of trained. */
export async function measureRecipe(recipe: ModelRecipe, dataset: PreparedDataset, spec: ExperimentSpec, backend: BackendInfo, options: StepBenchOptions): Promise<StageThroughput[]> {
  const results: StageThroughput[] = [];
  await measureStages(recipe, dataset, spec, async (s) => {
    results.push(await measureStage(dataset, spec, backend, { recipe: recipe.name, ...s }, options));
  });
  return results;
}
