import { readdir, readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PreparedDataset } from "../../src/data/reader.ts";
import { Module, ParamInit } from "../../src/layers/params.ts";
import {
  disposeSnapshot,
  loadCheckpoint,
  loadCheckpointPartial,
  restore,
  saveCheckpoint,
  snapshot,
  type CheckpointManifest,
} from "../../src/train/checkpoint.ts";
import { restorePartial } from "../../src/layers/shared-weights.ts";
import { evaluateSplit } from "../../src/train/evaluate.ts";
import { CorruptArtefactError, sha256File } from "../../src/util/checksums.ts";
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
    expect(onDisk.sha256).toBe((await sha256File(join(dir, "weights.bin"))).sha256);
  });

  it("refuses a corrupted or truncated weights.bin, naming it, and leaves the model untouched", async () => {
    const dir = join(outRoot, "ckpt", "corrupted");
    await saveCheckpoint(dir, new TinyModel(dataset.schema, { seed: 1 }).module);
    const file = join(dir, "weights.bin");
    const good = await readFile(file);
    const model = new TinyModel(dataset.schema, { seed: 2 });
    const before = weightValues(model.module);
    const flipped = Buffer.from(good);
    flipped[good.length >> 1]! ^= 0x10;
    await writeFile(file, flipped);
    await expect(loadCheckpoint(dir, model.module)).rejects.toThrow(new CorruptArtefactError(file, "corrupted (its SHA-256 does not match manifest.json)"));
    await expect(loadCheckpointPartial(dir, model.module)).rejects.toThrow(CorruptArtefactError);
    await writeFile(file, good.subarray(0, good.length - 4));
    await expect(loadCheckpoint(dir, model.module)).rejects.toThrow(`${file}: ${good.length - 4} bytes where its manifest says ${good.length}`);
    expect(weightValues(model.module)).toEqual(before);
    await writeFile(file, good);
    await loadCheckpoint(dir, model.module);
    expect(weightValues(model.module)).not.toEqual(before);
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

/** A module with parameters of the given local names and shapes, random values. */
class Params extends Module {
  constructor(name: string, seed: number, shapes: Record<string, number[]>) {
    super(name);
    const init = new ParamInit(seed);
    for (const [local, shape] of Object.entries(shapes)) this.param(local, init.uniform(shape, 1));
  }
}

describe("partial loads (pre-trained → fine-tuned)", () => {
  const PRE = { "dnn/kernel": [3, 2], "dnn/bias": [2], "fc_source/kernel": [4, 3] };
  const FT = { "dnn/kernel": [3, 2], "dnn/bias": [2], "fc_target/kernel": [5, 3] };
  /** "ft/…" reads "pre/…". */
  const fromPre = (name: string): string => name.replace(/^ft\//, "pre/");

  it("restores the variables present in both, by a name mapping, and keeps the others", () => {
    const pre = new Params("pre", 1, PRE);
    const ft = new Params("ft", 2, FT);
    const expected = weightValues(pre);
    const kept = weightValues(ft).get("ft/fc_target/kernel");
    const result = restorePartial(ft, pre.namedVariables(), { storedName: fromPre });
    expect(result).toEqual({ loaded: ["ft/dnn/kernel", "ft/dnn/bias"], kept: ["ft/fc_target/kernel"] });
    // The values stay when the pre-trained module is gone.
    pre.dispose();
    const after = weightValues(ft);
    expect(after.get("ft/dnn/kernel")).toEqual(expected.get("pre/dnn/kernel"));
    expect(after.get("ft/dnn/bias")).toEqual(expected.get("pre/dnn/bias"));
    expect(after.get("ft/fc_target/kernel")).toEqual(kept);
    ft.dispose();
  });

  it("loads from a checkpoint through a prefix filter, reading only what it restores", async () => {
    const dir = join(outRoot, "ckpt", "partial");
    const pre = new Params("pre", 3, PRE);
    await saveCheckpoint(dir, pre);
    const ft = new Params("ft", 4, FT);
    const before = weightValues(ft);
    const onlyKernels = (name: string) => (name.endsWith("/kernel") ? fromPre(name) : undefined);
    const result = await loadCheckpointPartial(dir, ft, { storedName: onlyKernels });
    expect(result).toEqual({ loaded: ["ft/dnn/kernel"], kept: ["ft/dnn/bias", "ft/fc_target/kernel"] });
    const after = weightValues(ft);
    expect(after.get("ft/dnn/kernel")).toEqual(weightValues(pre).get("pre/dnn/kernel"));
    expect(after.get("ft/dnn/bias")).toEqual(before.get("ft/dnn/bias"));
    expect(after.get("ft/fc_target/kernel")).toEqual(before.get("ft/fc_target/kernel"));
    pre.dispose();
    ft.dispose();
  });

  it("refuses a shared name with another shape, naming it, and leaves the model untouched", async () => {
    const dir = join(outRoot, "ckpt", "partial-mismatch");
    const pre = new Params("pre", 5, PRE);
    await saveCheckpoint(dir, pre);
    const ft = new Params("ft", 6, { ...FT, "dnn/bias": [3] });
    const before = weightValues(ft);
    const message = /does not match model 'ft': 'ft\/dnn\/bias' is float32\[2\] but the model has float32\[3\] \(stored as 'pre\/dnn\/bias'\)/;
    await expect(loadCheckpointPartial(dir, ft, { storedName: fromPre })).rejects.toThrow(message);
    expect(() => restorePartial(ft, pre.namedVariables(), { storedName: fromPre })).toThrow(message);
    expect(weightValues(ft)).toEqual(before);
    pre.dispose();
    ft.dispose();
  });
});
