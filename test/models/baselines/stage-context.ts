import { rm } from "node:fs/promises";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PreparedDataset } from "../../../src/data/reader.ts";
import { selectBackend } from "../../../src/engine/backend.ts";
import { disposeBatchTensors, type BatchTensors } from "../../../src/models/inputs.ts";
import type { CtrModel } from "../../../src/models/model.ts";
import { buildContext, type ModelRecipe, type StageOptions } from "../../../src/models/recipe.ts";
import { runStages } from "../../../src/run/stages.ts";
import { experimentSpecSchema, type ExperimentSpec } from "../../../src/spec/experiment.ts";
import { evaluateSplit } from "../../../src/train/evaluate.ts";
import { trainModel, type TrainOptions, type TrainResult } from "../../../src/train/trainer.ts";
import { prepareSpecFile, tempDir } from "../../helpers/prepared.ts";
import { SMALL_SIZES } from "../helpers.ts";

/** synthetic-tiny, prepared into a fresh temporary directory; `close` deletes it. */
export async function openSyntheticTiny(): Promise<{ dataset: PreparedDataset; close: () => Promise<void> }> {
  const outRoot = await tempDir("mkt-baselines-");
  const { dir } = await prepareSpecFile("datasets/synthetic-tiny.yaml", outRoot);
  const dataset = await PreparedDataset.open(dir);
  return {
    dataset,
    close: async () => {
      dataset.close();
      await rm(outRoot, { recursive: true, force: true });
    },
  };
}

/** Small sizes (E = 4, mlp [16, 8], tower [8]) and quick training: batch 256, lr 5e-3, 2 epochs. */
/** `overrides`: spec fields, the common ones and models' own sections (e.g. `ctnet: { continual: false }`). */
export function testSpec(overrides: Partial<ExperimentSpec> & Record<string, unknown> = {}, training: Partial<ExperimentSpec["training"]> = {}): ExperimentSpec {
  return experimentSpecSchema.parse({
    name: "baselines",
    dataset: "datasets/synthetic-tiny.yaml",
    sizes: SMALL_SIZES,
    training: { batch_size: 256, learning_rate: 5e-3, max_epochs: 2, patience: 1, shuffle_buffer: 65_536, eval_batch_size: 4096, ...training },
    ...overrides,
  });
}

/** Stage options as recipes pass them (StageOptions, plus the epoch count some of them set). */
export type PassedStageOptions = StageOptions & Pick<TrainOptions, "maxEpochs">;

export interface StageCall {
  name: string;
  model: CtrModel;
  options: PassedStageOptions;
  result: TrainResult;
}

export interface StageHooks {
  /** Called before a stage trains (its model as the recipe built it). */
  before?: (name: string, model: CtrModel) => void;
  after?: (name: string, model: CtrModel) => void;
}

/** Runs a recipe's stages with the one runner, training each with trainModel in memory, and records the calls. */
export class TrainingContext {
  readonly calls: StageCall[] = [];

  constructor(
    readonly dataset: PreparedDataset,
    readonly spec: ExperimentSpec,
    readonly seed: number,
    private readonly hooks: StageHooks = {},
    /** Passed to every trainModel call, e.g. maxBatchesPerEpoch to keep a test short. */
    private readonly extra: Partial<TrainOptions> = {},
  ) {}

  /** What the recipe's models are built from (so that a test can build one as the recipe does). */
  get schema() {
    return this.dataset.schema;
  }

  /** Trains every stage of `recipe` and returns its final model. */
  async train(recipe: ModelRecipe): Promise<CtrModel> {
    const context = buildContext(this.dataset, this.spec, this.seed);
    const { model } = await runStages(recipe, context, await recipe.stages(context, this.dataset), async ({ name, options = {} }, model) => {
      this.hooks.before?.(name, model);
      const result = await trainModel(model, this.dataset, { training: this.spec.training, seed: this.seed, stage: name, ...this.extra, ...options });
      this.calls.push({ name, model, options, result });
      this.hooks.after?.(name, model);
      const samples = result.epochs.reduce((sum, e) => sum + e.samples, 0);
      return { stage: name, seconds: result.seconds, epochsRun: result.epochsRun, bestEpoch: result.bestEpoch, bestValidAuc: result.bestValidAuc, samplesPerSecond: samples / result.seconds, resumed: false };
    });
    return model!;
  }
}

export async function testAuc(model: CtrModel, dataset: PreparedDataset): Promise<number> {
  return (await evaluateSplit(model, dataset, { split: "test", batchSize: 4096 })).metrics.auc;
}

/** Every variable's values by logical name (copies). */
export function values(named: Map<string, tf.Variable>): Map<string, Float32Array> {
  return new Map([...named].map(([name, v]) => [name, Float32Array.from(v.dataSync() as Float32Array)]));
}

/** [min, max] of a tensor's values. */
export function range(x: tf.Tensor): [number, number] {
  return [tf.min(x).dataSync()[0]!, tf.max(x).dataSync()[0]!];
}

/**
 * The learning test of a single-stage baseline: its recipe trains its one stage on synthetic-tiny
 * (wasm) and the target test AUC must clear `minAuc`. `note` records what the model reaches there.
 */
export function describeLearning(label: string, recipe: ModelRecipe, spec: ExperimentSpec, minAuc: number, note: string): void {
  describe(`${label} on synthetic-tiny`, () => {
    let dataset: PreparedDataset;
    let close: (() => Promise<void>) | undefined;
    beforeAll(async () => {
      await selectBackend("wasm");
      ({ dataset, close } = await openSyntheticTiny());
    });
    afterAll(async () => close?.());

    it(`trains its one stage and learns: target test AUC > ${minAuc} (${note})`, async () => {
      const context = new TrainingContext(dataset, spec, 1);
      const model = await context.train(recipe);
      expect(context.calls.map((c) => c.name)).toEqual(["train"]);
      expect(await testAuc(model, dataset)).toBeGreaterThan(minAuc);
      model.module.dispose();
    });
  });
}

/**
 * What every model must do on a batch: one probability in (0, 1) per row, read through the target
 * path; train on `entities`; a finite loss with exactly `parts`. Disposes the batch and the model.
 */
export function expectProbabilities(model: CtrModel, batch: BatchTensors, entities: readonly string[], parts: readonly string[]): void {
  expect(model.trainEntities).toEqual(entities);
  tf.tidy(() => {
    const p = model.predictTarget(batch);
    expect(p.shape).toEqual([batch.size]);
    const [low, high] = range(p);
    expect(low).toBeGreaterThan(0);
    expect(high).toBeLessThan(1);
    const loss = model.loss(batch);
    expect(Object.keys(loss.parts).sort()).toEqual([...parts].sort());
    expect(Number.isFinite(loss.total.dataSync()[0]!)).toBe(true);
  });
  disposeBatchTensors(batch);
  model.module.dispose();
}
