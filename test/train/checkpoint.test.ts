import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PreparedDataset } from "../../src/data/reader.ts";
import { disposeSnapshot, loadCheckpoint, restore, saveCheckpoint, snapshot, type CheckpointManifest } from "../../src/train/checkpoint.ts";
import { evaluateSplit } from "../../src/train/evaluate.ts";
import { openTinyDataset, TinyModel, weightValues } from "./helpers.ts";

let dataset: PreparedDataset;
let outRoot: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  await tf.setBackend("cpu");
  ({ dataset, outRoot, cleanup } = await openTinyDataset());
});

afterAll(async () => {
  await cleanup();
});

const testScores = async (model: TinyModel) => (await evaluateSplit(model, dataset, { split: "test", batchSize: 512 })).rows.scores;

describe("checkpoints", () => {
  it("save → load into a differently initialised model gives bit-identical predictions", async () => {
    const saved = new TinyModel(dataset.schema, { seed: 1 });
    const fresh = new TinyModel(dataset.schema, { seed: 2 });
    const dir = join(outRoot, "ckpt", "roundtrip");
    const manifest = await saveCheckpoint(dir, saved.module);

    const before = await testScores(fresh);
    const expected = await testScores(saved);
    expect(before).not.toEqual(expected);
    await loadCheckpoint(dir, fresh.module);
    expect(await testScores(fresh)).toEqual(expected);
    expect(weightValues(fresh.module)).toEqual(weightValues(saved.module));

    // The manifest describes weights.bin completely: contiguous byte ranges covering the file.
    const onDisk = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as CheckpointManifest;
    expect(onDisk).toEqual(manifest);
    expect(onDisk.variables.map((v) => v.name)).toEqual([...saved.module.namedVariables().keys()]);
    let offset = 0;
    for (const v of onDisk.variables) {
      expect(v.offset).toBe(offset);
      offset += v.byteLength;
    }
    expect((await stat(join(dir, "weights.bin"))).size).toBe(offset);
  });

  it("refuses a checkpoint whose shapes differ, naming the variable, and leaves the model untouched", async () => {
    const dir = join(outRoot, "ckpt", "dim4");
    await saveCheckpoint(dir, new TinyModel(dataset.schema, { seed: 1 }).module);
    const other = new TinyModel(dataset.schema, { seed: 3, dim: 3 });
    const before = weightValues(other.module);
    await expect(loadCheckpoint(dir, other.module)).rejects.toThrow(
      /does not match model 'tiny': 'tiny\/emb\/user__user_id\/table' is float32\[400, 8\] but the model has float32\[400, 3\]/,
    );
    expect(weightValues(other.module)).toEqual(before);
  });

  it("a failed save leaves no partial directory and keeps the previous checkpoint", async () => {
    const parent = join(outRoot, "ckpt-fail");
    const good = new TinyModel(dataset.schema, { seed: 1 });
    await saveCheckpoint(join(parent, "kept"), good.module);
    const broken = new TinyModel(dataset.schema, { seed: 4 });
    // Disposing the last variable makes the save fail after the embedding tables were written.
    broken.module.bias.dispose();
    await expect(saveCheckpoint(join(parent, "kept"), broken.module)).rejects.toThrow(/disposed/);
    await expect(saveCheckpoint(join(parent, "new"), broken.module)).rejects.toThrow(/disposed/);
    expect(await readdir(parent)).toEqual(["kept"]);

    const check = new TinyModel(dataset.schema, { seed: 5 });
    await loadCheckpoint(join(parent, "kept"), check.module);
    expect(weightValues(check.module)).toEqual(weightValues(good.module));
  });

  it("snapshot/restore brings weights back without leaking tensors", () => {
    const model = new TinyModel(dataset.schema, { seed: 6 });
    const tensorsBefore = tf.memory().numTensors;
    const expected = weightValues(model.module);
    const saved = snapshot(model.module);
    tf.tidy(() => model.module.variables().forEach((v) => v.assign(tf.onesLike(v))));
    expect(weightValues(model.module)).not.toEqual(expected);
    restore(model.module, saved);
    disposeSnapshot(saved);
    expect(weightValues(model.module)).toEqual(expected);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });
});
