import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { servingDir } from "../../src/cli/commands/export.ts";
import { buildProgram } from "../../src/cli/main.ts";
import type { Batch } from "../../src/data/batch.ts";
import { PreparedDataset } from "../../src/data/reader.ts";
import type { PreparedSchema } from "../../src/data/schema.ts";
import {
  buildServingModel,
  disposeServingModel,
  exportServingModel,
  INPUTS_FILE,
  loadServingModel,
  MODEL_FILE,
  predictServing,
  servingInputs,
  WEIGHTS_FILE,
  type ServingDescription,
} from "../../src/export/serving.ts";
import { ParamInit } from "../../src/layers/params.ts";
import { batchToTensors, disposeBatchTensors, type BatchTensors } from "../../src/models/inputs.ts";
import { buildMem, buildTem } from "../../src/models/mkt/index.ts";
import { MultiEntityModel } from "../../src/models/mkt/mem.ts";
import { TargetEntityModel } from "../../src/models/mkt/tem.ts";
import type { CtrModel } from "../../src/models/model.ts";
import { loadExperiment } from "../../src/run/experiment.ts";
import { modelDir } from "../../src/run/model-run.ts";
import { writeFinishedStage } from "../../src/run/stages.ts";
import { sizesSchema } from "../../src/spec/experiment.ts";
import { UserError } from "../../src/util/errors.ts";
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
  const x = Array.from(await a.data());
  const y = Array.from(await b.data());
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
    if (loaded) disposeServingModel(loaded);
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
      expect(await maxDiff(served, expected)).toBeLessThan(1e-5);
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

  it("holds its own copies of the weights and releases them all", () => {
    const before = tf.memory().numTensors;
    const model = buildServingModel(tem, schema);
    expect(model.weights.length).toBeGreaterThan(0);
    disposeServingModel(model);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("tem.knowledge common+target: the export adds MEM's TKE path and g_ind^t's GLU, and matches the training graph", async () => {
    const mem = new MultiEntityModel("mem", new ParamInit(5), { schema, sizes: SIZES, gamma: 0.1 });
    const mixed = batchToTensors(randomBatch(schema, { source: 24, target: 24 }, 13));
    trainSteps(mem, mixed, 4);
    disposeBatchTensors(mixed);
    const withTarget = new TargetEntityModel("tem", new ParamInit(6), { schema, sizes: SIZES, mem, knowledge: "common+target" });
    const target = batchToTensors(randomBatch(schema, { source: 0, target: 32 }, 14));
    trainSteps(withTarget, target, 4);
    disposeBatchTensors(target);
    const model = buildServingModel(withTarget, schema);
    expect(model.layers.map((l) => l.name)).toEqual(expect.arrayContaining(["mem.tke.dense1", "tem.glu_independent.gate"]));
    const tensors = batchToTensors(edgeBatch(schema, { source: 5, target: 12 }, 23));
    const expected = withTarget.predictTarget(tensors);
    const served = predictServing(model, tensors);
    expect(await maxDiff(served, expected)).toBeLessThan(1e-5);
    tf.dispose([expected, served]);
    disposeBatchTensors(tensors);
    disposeServingModel(model);
    withTarget.dispose();
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

/** `mkt <args>` in this process, stdout captured. */
async function runMkt(outRoot: string, ...args: string[]): Promise<string> {
  const program = buildProgram();
  let stdout = "";
  const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  try {
    await program.parseAsync(["--json", "--log-level", "silent", "--backend", "cpu", "--out", outRoot, ...args], { from: "user" });
  } finally {
    spy.mockRestore();
  }
  return stdout;
}

describe("mkt export (synthetic-tiny, real batches)", () => {
  const SPEC = "experiments/tiny.yaml";
  let outRoot: string;

  beforeAll(async () => {
    outRoot = await tempDir("mkt-export-cli-");
  });

  afterAll(async () => {
    if (outRoot) await rm(outRoot, { recursive: true, force: true });
  });

  it("asks for 'mkt finetune' when the seed has no fine-tuned TEM, then exports one that plain tfjs reproduces", async () => {
    await expect(runMkt(outRoot, "export", SPEC)).rejects.toThrow(UserError);
    await expect(runMkt(outRoot, "export", SPEC)).rejects.toThrow(/stage 'finetune' .* has not run yet: run 'mkt pretrain .*' and 'mkt finetune .*' first/);

    // Stand in for `mkt pretrain` + `mkt finetune`: a few steps on real batches, saved as StageRunner saves a finished stage.
    const experiment = await loadExperiment(SPEC, outRoot);
    const seed = experiment.spec.seeds[0]!;
    const dataset = await PreparedDataset.open(experiment.prepared.dir);
    const options = { schema: dataset.schema, spec: experiment.spec, seed };
    const mem = buildMem(options);
    const train = async (model: CtrModel, entities: Array<"source" | "target">): Promise<void> => {
      let step = 0;
      for await (const batch of dataset.batches({ split: "train", entities, batchSize: 128 })) {
        const tensors = batchToTensors(batch);
        trainSteps(model, tensors, 1);
        disposeBatchTensors(tensors);
        if (++step === 2) break;
      }
    };
    await train(mem, ["source", "target"]);
    const tem = buildTem(options, mem);
    try {
      await train(tem, ["target"]);
      const stage = join(modelDir(experiment.runDir, "mkt", seed), "stage-finetune");
      await writeFinishedStage(stage, tem, { stage: "finetune", seconds: 0, epochsRun: 1, bestEpoch: 1, bestValidAuc: 0.5, samplesPerSecond: 0, resumed: false }, []);

      const [printed, ...others] = JSON.parse(await runMkt(outRoot, "export", SPEC, "--seed", String(seed))) as Array<{ dir: string; seed: number; inputs: ServingDescription["inputs"] }>;
      expect(others).toEqual([]);
      const dir = servingDir(experiment.runDir, seed);
      expect(printed!.dir).toBe(dir);
      expect(printed!.seed).toBe(seed);
      const description = JSON.parse(await readFile(join(dir, INPUTS_FILE), "utf8")) as ServingDescription;
      expect(printed!.inputs).toEqual(description.inputs);
      expect(description.preparedDir).toBe(dataset.dir);
      // Every categorical vocabulary named in inputs.json exists in the prepared dataset.
      for (const input of description.inputs) if (input.vocabulary?.file) await readFile(join(dataset.dir, input.vocabulary.file), "utf8");

      // The tf.io.fromMemory route of README.md / inputs.json usage.
      const loaded = await loadServingModel(await readFile(join(dir, MODEL_FILE), "utf8"), await readFile(join(dir, WEIGHTS_FILE)));
      expect(loaded.inputNames).toEqual(description.inputs.map((i) => i.name));
      let rows = 0;
      let empty = 0;
      for await (const batch of dataset.batches({ split: "test", entities: ["target"], batchSize: 512 })) {
        const tensors = batchToTensors(batch);
        const expected = tem.predictTarget(tensors);
        const served = predictServing(loaded, batch);
        expect(await maxDiff(served, expected)).toBeLessThan(1e-5);
        tf.dispose([expected, served]);
        disposeBatchTensors(tensors);
        rows += batch.size;
        empty += Array.from(batch.sequences["seq_target"]!.length).filter((n) => n === 0).length;
        if (rows >= 1024) break;
      }
      expect(rows).toBeGreaterThan(0);
      expect(empty).toBeGreaterThan(0);
      disposeServingModel(loaded);
    } finally {
      tem.dispose();
      dataset.close();
    }
  });
});
