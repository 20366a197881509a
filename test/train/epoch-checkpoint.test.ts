import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PreparedDataset } from "../../src/data/reader.ts";
import { selectBackend } from "../../src/engine/backend.ts";
import type { CtrModel } from "../../src/models/model.ts";
import { buildRecipeModel, type StageReplicaArgs } from "../../src/run/stage-replica.ts";
import { recipeByName } from "../../src/models/registry.ts";
import { loadEpochCheckpoint, saveEpochCheckpoint } from "../../src/train/epoch-checkpoint.ts";
import { trainModel, type EpochLog, type TrainOptions, type TrainResult } from "../../src/train/trainer.ts";
import { CorruptArtefactError } from "../../src/util/checksums.ts";
import { testSpec } from "../models/baselines/stage-context.ts";
import { openTinyDataset, TinyModel, training, weightValues } from "./helpers.ts";

let dataset: PreparedDataset;
let outRoot: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  await selectBackend("wasm");
  ({ dataset, outRoot, cleanup } = await openTinyDataset());
});

afterAll(async () => {
  await cleanup();
});

/** Thrown from onEpoch: the training stops there, as if the process had been killed after saving. */
class Killed extends Error {}

/** What must not depend on an interruption: everything but the wall times. */
const outcome = (result: TrainResult) => ({
  epochs: result.epochs.map(({ seconds: _s, samplesPerSecond: _r, ...rest }: EpochLog) => rest),
  bestEpoch: result.bestEpoch,
  bestValidAuc: result.bestValidAuc,
  epochsRun: result.epochsRun,
  stoppedEarly: result.stoppedEarly,
});

/** Exact equality of every weight (bit for bit, NaN-safe). */
function sameBits(a: Map<string, Float32Array>, b: Map<string, Float32Array>): boolean {
  return a.size === b.size && [...a].every(([name, values]) => b.has(name) && Buffer.from(values.buffer).equals(Buffer.from(b.get(name)!.buffer)));
}

/**
 * Trains `model` to the end (kill undefined), or until after epoch `kill`, saving an epoch
 * checkpoint to `dir` after every epoch as the stage runner does.
 */
async function train(model: CtrModel, options: TrainOptions, dir: string, kill?: number): Promise<TrainResult | undefined> {
  try {
    return await trainModel(model, dataset, {
      ...options,
      onEpoch: async (entry, state) => {
        await options.onEpoch?.(entry, state);
        await saveEpochCheckpoint(dir, state);
        if (entry.epoch === kill) throw new Killed();
      },
    });
  } catch (error) {
    if (error instanceof Killed) return undefined;
    throw error;
  }
}

describe("epoch checkpoints: a training killed after an epoch resumes with the same bits", () => {
  // Four epochs; from epoch 3 on the valid scores are inverted, so epoch 2 stays the best and the
  // epoch checkpoints after epochs 3 and 4 must carry epoch 2's weights besides the current ones.
  const settings = training({ max_epochs: 4, patience: 4, learning_rate: 0.02 });
  const invertAfterEpoch2 = (model: TinyModel): TrainOptions["onEpoch"] => (entry) => {
    if (entry.epoch === 2) model.invert = true;
  };
  let whole: { result: TrainResult; weights: Map<string, Float32Array> };

  beforeAll(async () => {
    const model = new TinyModel(dataset.schema, { seed: 1 });
    const result = (await train(model, { training: settings, seed: 1, onEpoch: invertAfterEpoch2(model) }, join(outRoot, "whole")))!;
    whole = { result, weights: weightValues(model.module) };
    model.module.dispose();
    expect(result.bestEpoch).toBe(2);
    expect(result.epochsRun).toBe(4);
  });

  for (const kill of [1, 3]) {
    it(`killed after epoch ${kill} of 4 (the best epoch ${kill === 1 ? "is that one" : "is an earlier one"}), then resumed in a fresh model`, async () => {
      const dir = join(outRoot, `killed-${kill}`);
      const killed = new TinyModel(dataset.schema, { seed: 1 });
      expect(await train(killed, { training: settings, seed: 1, onEpoch: invertAfterEpoch2(killed) }, dir, kill)).toBeUndefined();
      killed.module.dispose();
      expect(existsSync(join(dir, "best"))).toBe(kill === 3);

      // Another initialisation: every weight must come from the checkpoint.
      const model = new TinyModel(dataset.schema, { seed: 77 });
      model.invert = kill >= 2;
      const tensorsBefore = tf.memory().numTensors;
      const resume = await loadEpochCheckpoint(dir, model.module);
      expect(resume!.epochs.map((e) => e.epoch)).toEqual(Array.from({ length: kill }, (_, i) => i + 1));
      expect(resume!.optimizer.steps).toBeGreaterThan(0);
      expect(resume!.optimizer.moments.size).toBe(model.trainableVariables().length);
      const result = await trainModel(model, dataset, { training: settings, seed: 1, resume: resume!, onEpoch: invertAfterEpoch2(model) });
      expect(outcome(result)).toEqual(outcome(whole.result));
      expect(sameBits(weightValues(model.module), whole.weights)).toBe(true);
      // The optimizer's moments and the best snapshot handed over were released.
      expect(tf.memory().numTensors).toBe(tensorsBefore);
      model.module.dispose();
    });
  }

  it("would not be the same without Adam's saved moments (the comparison above can fail)", async () => {
    const model = new TinyModel(dataset.schema, { seed: 77 });
    model.invert = true;
    const resume = await loadEpochCheckpoint(join(outRoot, "killed-3"), model.module);
    const result = await trainModel(model, dataset, { training: settings, seed: 1, resume: { ...resume!, optimizer: { steps: 0, moments: new Map() } } });
    expect(result.bestEpoch).toBe(2);
    // Epoch 4 differs; epoch 2's weights are restored either way, so compare the epoch's loss.
    expect(result.epochs[3]!.loss).not.toEqual(whole.result.epochs[3]!.loss);
    model.module.dispose();
  });

  it("a corrupted epoch checkpoint is named and leaves the model untouched; none at all is undefined", async () => {
    const dir = join(outRoot, "killed-3");
    const model = new TinyModel(dataset.schema, { seed: 5 });
    const before = weightValues(model.module);
    expect(await loadEpochCheckpoint(join(outRoot, "never-written"), model.module)).toBeUndefined();
    const file = join(dir, "optimizer", "weights.bin");
    const bytes = await readFile(file);
    bytes[100]! ^= 0x01;
    await writeFile(file, bytes);
    const error = await loadEpochCheckpoint(dir, model.module).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptArtefactError);
    expect((error as CorruptArtefactError).file).toBe(file);
    expect(sameBits(weightValues(model.module), before)).toBe(true);
    model.module.dispose();
  });
});

describe("epoch checkpoints with replicas (worker threads hold part of Adam's state)", () => {
  const spec = testSpec({}, { batch_size: 512, learning_rate: 5e-3, max_epochs: 3, patience: 3 });
  const args: StageReplicaArgs = { datasetDir: "", spec, seed: 1, recipe: "mlp", model: "model" };
  const options = (): TrainOptions => ({
    training: spec.training,
    seed: 1,
    parallel: { replicas: 2, backend: "wasm", kernelOverrides: true, factory: { module: new URL("../../src/run/stage-replica.ts", import.meta.url).href, exportName: "buildStageReplicaModel", args: { ...args, datasetDir: dataset.dir } } },
  });

  it("killed after epoch 1 of 3 and resumed: the same bits as an uninterrupted run with the same replicas", async () => {
    const build = () => buildRecipeModel(recipeByName("mlp"), { schema: dataset.schema, spec, seed: 1 }, "model");
    const wholeModel = build();
    const whole = (await train(wholeModel, options(), join(outRoot, "parallel-whole")))!;
    const wholeWeights = weightValues(wholeModel.module);
    wholeModel.module.dispose();

    const dir = join(outRoot, "parallel-killed");
    const killed = build();
    expect(await train(killed, options(), dir, 1)).toBeUndefined();
    killed.module.dispose();

    const model = build();
    const resume = await loadEpochCheckpoint(dir, model.module);
    // The moments of the variables the worker owns were gathered too: every trainable variable has its own.
    expect(resume!.optimizer.moments.size).toBe(model.trainableVariables().length);
    const result = await trainModel(model, dataset, { ...options(), resume: resume! });
    expect(outcome(result)).toEqual(outcome(whole));
    expect(sameBits(weightValues(model.module), wholeWeights)).toBe(true);
    model.module.dispose();
  });
});
