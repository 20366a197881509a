import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Batch } from "../../src/data/batch.ts";
import type { PreparedSchema } from "../../src/data/schema.ts";
import {
  exportServingModel,
  INPUTS_FILE,
  MODEL_FILE,
  predictServing,
  servingInputs,
  WEIGHTS_FILE,
  type ServingDescription,
} from "../../src/export/serving.ts";
import { ParamInit } from "../../src/layers/params.ts";
import { batchToTensors, disposeBatchTensors, type BatchTensors } from "../../src/models/inputs.ts";
import { MultiEntityModel } from "../../src/models/mkt/mem.ts";
import { TargetEntityModel } from "../../src/models/mkt/tem.ts";
import type { CtrModel } from "../../src/models/model.ts";
import { sizesSchema } from "../../src/spec/experiment.ts";
import { tempDir } from "../helpers/prepared.ts";
import { MAXLEN, randomBatch, testSchema } from "../models/helpers.ts";

/** Small, but with two shared experts, two cross layers, two attention layers and three CKE levels. */
const SIZES = sizesSchema.parse({
  embedding_dim: 4,
  mlp: [16, 8],
  cke_levels: [12, 10, 8],
  cke_shared_experts: 2,
  tower: [8],
  hfa_dim: 8,
  attention: [8, 6],
});

/** Plain tfjs: model.json + weights.bin through a minimal IOHandler (no mkt code). */
async function loadPlain(dir: string): Promise<tf.LayersModel> {
  const handler: tf.io.IOHandler = {
    load: async () => {
      const json = JSON.parse(await readFile(join(dir, MODEL_FILE), "utf8")) as tf.io.ModelJSON;
      const manifest = json.weightsManifest![0]!;
      expect(manifest.paths).toEqual([WEIGHTS_FILE]);
      const bin = await readFile(join(dir, manifest.paths[0]!));
      return {
        modelTopology: json.modelTopology,
        format: json.format,
        generatedBy: json.generatedBy,
        weightSpecs: manifest.weights,
        weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),
      };
    },
  };
  return tf.loadLayersModel(handler);
}

/** A batch whose first rows have empty and full sequences (both), the rest random. */
function edgeBatch(schema: PreparedSchema, counts: { source: number; target: number }, seed: number): Batch {
  const batch = randomBatch(schema, counts, seed);
  for (const seq of Object.values(batch.sequences)) {
    const L = seq.maxlen;
    seq.length[0] = 0;
    seq.length[1] = L;
    seq.length[2] = 0;
    seq.length[3] = L;
    for (const ids of Object.values(seq.ids)) {
      ids.fill(0, 0, L);
      ids.fill(0, 2 * L, 3 * L);
      for (const row of [1, 3]) for (let l = 0; l < L; l++) ids[row * L + l] = 2 + ((row * 7 + l * 3) % 5);
    }
  }
  return batch;
}

function trainSteps(model: CtrModel, batch: BatchTensors, steps: number): void {
  const optimizer = tf.train.adam(0.02);
  for (let step = 0; step < steps; step++) tf.tidy(() => void optimizer.minimize(() => model.loss(batch).total, false, model.trainableVariables()));
  optimizer.dispose();
}

async function maxDiff(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  expect(a.shape).toEqual(b.shape);
  const x = await a.data();
  const y = await b.data();
  return x.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i]!)), 0);
}

describe("serving export (hand-built schema)", () => {
  const schema = testSchema();
  let tem: TargetEntityModel;
  let dir: string;
  let loaded: tf.LayersModel;
  let description: ServingDescription;

  beforeAll(async () => {
    await tf.setBackend("cpu");
    const mem = new MultiEntityModel("mem", new ParamInit(3), { schema, sizes: SIZES, gamma: 0.1 });
    const mixed = batchToTensors(randomBatch(schema, { source: 24, target: 24 }, 11));
    trainSteps(mem, mixed, 8);
    disposeBatchTensors(mixed);
    tem = new TargetEntityModel("tem", new ParamInit(4), { schema, sizes: SIZES, mem });
    const target = batchToTensors(randomBatch(schema, { source: 0, target: 32 }, 12));
    trainSteps(tem, target, 8);
    disposeBatchTensors(target);
    dir = join(await tempDir("mkt-export-test-"), "serving");
    description = (await exportServingModel(tem, schema, dir)).description;
    loaded = await loadPlain(dir);
  });

  afterAll(async () => {
    loaded?.dispose();
    tem?.dispose();
    if (dir) await rm(join(dir, ".."), { recursive: true, force: true });
  });

  it("matches the training graph's predictions, rows with empty and full sequences included", async () => {
    for (const [counts, seed] of [
      [{ source: 0, target: 20 }, 21],
      [{ source: 9, target: 14 }, 22],
    ] as const) {
      const batch = edgeBatch(schema, counts, seed);
      const tensors = batchToTensors(batch);
      const expected = tem.predictTarget(tensors);
      // Tensor order (source rows first, as predictTarget returns them).
      const served = predictServing(loaded, tensors);
      const d0 = await maxDiff(served, expected); console.log("DIFF", d0, Array.from(await expected.data()).slice(0, 6));
      expect(d0).toBeLessThan(1e-5);
      // The reader Batch keeps its own row order.
      const inBatchOrder = predictServing(loaded, batch);
      const reordered = new Float32Array(batch.size);
      const want = await expected.data();
      tensors.order.forEach((row, i) => (reordered[row] = want[i]!));
      expect(await maxDiff(inBatchOrder, tf.tensor1d(reordered))).toBeLessThan(1e-5);
      // Predictions are not trivially constant.
      const values = await expected.data();
      expect(Math.max(...values) - Math.min(...values)).toBeGreaterThan(1e-3);
      tf.dispose([expected, served, inBatchOrder]);
      disposeBatchTensors(tensors);
    }
  });

  it("inputs.json lists every input of the loaded model with its shape and dtype", async () => {
    const onDisk = JSON.parse(await readFile(join(dir, INPUTS_FILE), "utf8")) as ServingDescription;
    expect(onDisk).toEqual(JSON.parse(JSON.stringify(description)));
    expect(onDisk.inputs.map((i) => i.name)).toEqual(loaded.inputNames);
    loaded.inputs.forEach((input, k) => {
      const described = onDisk.inputs[k]!;
      expect(input.shape, described.name).toEqual(described.shape);
      expect(input.dtype, described.name).toBe(described.dtype);
    });
    expect(loaded.outputs.map((o) => o.shape)).toEqual([onDisk.output.shape]);
    expect(loaded.outputNames).toEqual([onDisk.output.name]);
    // User, shared and target-specific features, then each sequence's elements and its mask; no source-specific input.
    const byName = new Map(onDisk.inputs.map((i) => [i.name, i]));
    expect(onDisk.inputs.filter((i) => i.kind === "feature").map((i) => i.name)).toEqual([
      "user__user_id",
      "user__gender",
      "shared__category",
      "shared__creator_id",
      "target__item_id",
    ]);
    expect(byName.get("seq_source__item_id")).toMatchObject({ kind: "sequence_element", shape: [null, MAXLEN], dtype: "int32", column: "source__item_id", vocabulary: { size: 30 } });
    expect(byName.get("seq_target__category")).toMatchObject({ column: "shared__category", vocabulary: { column: "shared__category", size: 10, file: "vocab/shared__category.tsv" } });
    expect(byName.get("seq_target__mask")).toMatchObject({ kind: "sequence_mask", shape: [null, MAXLEN], dtype: "float32" });
    expect(byName.get("seq_target__mask")!.description).toMatch(/1 for the real elements.*0 for padding/);
  });

  it("uses built-in tfjs layers only", async () => {
    const json = JSON.parse(await readFile(join(dir, MODEL_FILE), "utf8")) as { modelTopology: { config: { layers: Array<{ class_name: string }> } }; format: string };
    expect(json.format).toBe("layers-model");
    const classes = new Set(json.modelTopology.config.layers.map((l) => l.class_name));
    const builtIn = ["InputLayer", "Embedding", "Dense", "Concatenate", "Add", "Multiply", "Dot", "Reshape", "RepeatVector"];
    expect([...classes].filter((c) => !builtIn.includes(c))).toEqual([]);
  });

  it("servingInputs gives one tensor per model input, rows in the batch's order", () => {
    const batch = edgeBatch(schema, { source: 2, target: 3 }, 30);
    const inputs = servingInputs(batch, loaded.inputNames);
    expect(Object.keys(inputs).sort()).toEqual([...loaded.inputNames].sort());
    expect(inputs["seq_source__mask"]!.arraySync()).toEqual([0, 1, 0, 1, 2].map((_, row) => Array.from({ length: MAXLEN }, (__, l) => (l < batch.sequences["seq_source"]!.length[row]! ? 1 : 0))));
    expect(Array.from(inputs["user__gender"]!.dataSync())).toEqual(Array.from(batch.features["user__gender"]!));
    tf.dispose(Object.values(inputs));
  });
});
