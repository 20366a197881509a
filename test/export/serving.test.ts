import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { buildProgram } from "../../src/cli/main.ts";
import type { Batch } from "../../src/data/batch.ts";
import { PreparedDataset } from "../../src/data/reader.ts";
import { selectBackend, type BackendInfo } from "../../src/engine/backend.ts";
import { applyKernelOverrides, removeKernelOverrides } from "../../src/engine/kernels/registry.ts";
import type { ServingDescription } from "../../src/export/describe.ts";
import { loadFinishedModel, runRecipes } from "../../src/export/finished.ts";
import { exportServingModel, INPUTS_FILE, MODEL_FILE, README_FILE, servingDir, WEIGHTS_FILE } from "../../src/export/serving.ts";
import { mktRecipe } from "../../src/models/mkt/recipe.ts";
import { loadExperiment, type LoadedExperiment } from "../../src/run/experiment.ts";
import { modelDir, runModel } from "../../src/run/model-run.ts";
import { UserError } from "../../src/util/errors.ts";
import { tempDir } from "../helpers/prepared.ts";

/**
 * `mkt export` end to end: every model of Table 2 and every MKT ablation is trained briefly on
 * synthetic-tiny and evaluated through the run layer (as `mkt run` does: predictions.csv), then
 * exported by the CLI; a separate Node process that imports nothing but @tensorflow/tfjs loads each
 * GraphModel (plain-predict.mjs) and scores the target test split, which must match predictions.csv.
 */

const TOLERANCE = 1e-5;
const PLAIN_PREDICT = resolve("test/export/plain-predict.mjs");

/** `mkt <args>` in this process, stdout captured. */
async function runMkt(outRoot: string, ...args: string[]): Promise<string> {
  const program = buildProgram();
  let stdout = "";
  const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  });
  try {
    await program.parseAsync(["--json", "--log-level", "silent", "--backend", "wasm", "--out", outRoot, ...args], { from: "user" });
  } finally {
    spy.mockRestore();
  }
  return stdout;
}

interface PlainBatch {
  [input: string]: { dtype: "int32" | "float32"; shape: number[]; values: number[] };
}

/** The target test split, in file order, as every input a served graph may take (names of inputs.json). */
async function testInputs(dataset: PreparedDataset): Promise<{ batch: PlainBatch; labels: Float32Array }> {
  const read = { split: "test" as const, entities: ["target" as const] };
  let rows: Batch | undefined;
  for await (const batch of dataset.batches({ ...read, batchSize: dataset.rowCount(read) })) rows = batch;
  const b = rows!;
  const out: PlainBatch = {};
  for (const [column, ids] of Object.entries(b.features)) out[column] = { dtype: "int32", shape: [b.size], values: Array.from(ids) };
  for (const [name, seq] of Object.entries(b.sequences)) {
    for (const [element, ids] of Object.entries(seq.ids)) out[`${name}__${element}`] = { dtype: "int32", shape: [b.size, seq.maxlen], values: Array.from(ids) };
    const mask = Array.from({ length: b.size * seq.maxlen }, (_, k) => (k % seq.maxlen < seq.length[Math.floor(k / seq.maxlen)]! ? 1 : 0));
    out[`${name}__mask`] = { dtype: "float32", shape: [b.size, seq.maxlen], values: mask };
  }
  return { batch: out, labels: Float32Array.from(b.label) };
}

/** Scores of every serving dir from the plain-tfjs process. */
async function plainPredict(work: string, batch: PlainBatch, dirs: string[]): Promise<Record<string, { inputs: string[]; scores: number[] }>> {
  const batchFile = join(work, "batch.json");
  const outFile = join(work, "plain-scores.json");
  await writeFile(batchFile, JSON.stringify(batch));
  await promisify(execFile)(process.execPath, [PLAIN_PREDICT, batchFile, outFile, ...dirs], { maxBuffer: 1 << 24 });
  return JSON.parse(await readFile(outFile, "utf8"));
}

/** predictions.csv's labels and scores (user_key,label,score,user_group). */
async function predictionsCsv(dir: string): Promise<{ labels: number[]; scores: number[] }> {
  const lines = (await readFile(join(dir, "predictions.csv"), "utf8")).trim().split("\n").slice(1);
  const fields = lines.map((l) => l.split(","));
  return { labels: fields.map((f) => Number(f[1])), scores: fields.map((f) => Number(f[2])) };
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe("mkt export: every model of Table 2 and every MKT ablation, served by plain tfjs", () => {
  let outRoot: string;
  let specFile: string;
  let experiment: LoadedExperiment;
  let dataset: PreparedDataset;
  let backend: BackendInfo;
  let exported: Array<{ model: string; seed: number; dir: string; inputs: ServingDescription["inputs"] }>;

  beforeAll(async () => {
    outRoot = await tempDir("mkt-export-");
    specFile = join(outRoot, "export.yaml");
    // Small sizes and big batches: a few steps per stage; every model and ablation (the spec's defaults).
    await writeFile(
      specFile,
      `name: exporttest\ndataset: ${resolve("datasets/synthetic-tiny.yaml")}\nseeds: [1]\n` +
        "training: { batch_size: 4096, learning_rate: 0.01, max_epochs: 1, shuffle_buffer: 4096, eval_batch_size: 4096 }\n" +
        "sizes: { embedding_dim: 4, mlp: [16, 8], tower: [8], attention: [8], hfa_dim: 8, cke_levels: [16, 8] }\n",
    );
    experiment = await loadExperiment(specFile, outRoot);
    dataset = await PreparedDataset.open(experiment.prepared.dir);
    backend = await selectBackend("wasm");
  }, 600_000);

  afterAll(async () => {
    dataset?.close();
    if (outRoot) await rm(outRoot, { recursive: true, force: true });
  });

  it("before any model finished: one-line errors, nothing written", async () => {
    await expect(runMkt(outRoot, "export", specFile)).rejects.toThrow(UserError);
    await expect(runMkt(outRoot, "export", specFile)).rejects.toThrow(/no finished model to export; run 'mkt run .*' \(or the models' own commands\) first/);
    await expect(runMkt(outRoot, "export", specFile, "--model", "nosuch")).rejects.toThrow(/--model nosuch: not a model of Table 2 or an MKT ablation \(mkt, mlp, .*, mkt-wo_hfa\)/);
    await expect(runMkt(outRoot, "export", specFile, "--model", "mkt")).rejects.toThrow(/stage 'pretrain' of .* has not run yet: run 'mkt run .*' \(or the model's own commands\) first/);
    expect(existsSync(join(experiment.runDir, "mkt"))).toBe(false);
  });

  it("exports every finished model; plain tfjs in another process reproduces predictions.csv", async () => {
    const recipes = runRecipes(experiment);
    expect(recipes.map((r) => r.name)).toEqual(["mkt", "mlp", "din", "fibinet", "mmoe", "ple", "star", "conet", "minet", "finetune", "ctnet", "mkt-wo_tem_finetune", "mkt-wo_pdl", "mkt-wo_hfa"]);
    for (const recipe of recipes) await runModel(recipe, experiment, dataset, 1, backend, { progress: false });

    exported = JSON.parse(await runMkt(outRoot, "export", specFile));
    expect(exported.map((e) => e.model)).toEqual(recipes.map((r) => r.name));
    for (const e of exported) {
      expect(e.dir).toBe(servingDir(experiment.runDir, e.model, 1));
      const description = JSON.parse(await readFile(join(e.dir, INPUTS_FILE), "utf8")) as ServingDescription;
      expect(e.inputs).toEqual(description.inputs);
      expect(description.preparedDir).toBe(dataset.dir);
      const json = JSON.parse(await readFile(join(e.dir, MODEL_FILE), "utf8")) as { format: string; weightsManifest: Array<{ paths: string[] }> };
      expect(json.format).toBe("graph-model");
      expect(json.weightsManifest[0]!.paths).toEqual([WEIGHTS_FILE]);
      expect((await readFile(join(e.dir, README_FILE), "utf8")).includes("tf.loadGraphModel")).toBe(true);
      // Every categorical vocabulary named in inputs.json exists in the prepared dataset.
      for (const input of description.inputs) if (input.vocabulary?.file) await readFile(join(dataset.dir, input.vocabulary.file), "utf8");
    }

    const { batch, labels } = await testInputs(dataset);
    // The rows include empty and full behaviour sequences.
    for (const name of ["seq_source__mask", "seq_target__mask"]) {
      const { shape, values } = batch[name]!;
      const lengths = Array.from({ length: shape[0]! }, (_, i) => values.slice(i * shape[1]!, (i + 1) * shape[1]!).reduce((a, b) => a + b, 0));
      expect(lengths.filter((n) => n === 0).length, name).toBeGreaterThan(0);
      expect(lengths.filter((n) => n === shape[1]).length, name).toBeGreaterThan(0);
    }
    const plain = await plainPredict(outRoot, batch, exported.map((e) => e.dir));
    const diffs: string[] = [];
    for (const e of exported) {
      const expected = await predictionsCsv(modelDir(experiment.runDir, e.model, 1));
      expect(expected.labels, `${e.model}: predictions.csv rows are the test split's, in order`).toEqual(Array.from(labels));
      const served = plain[e.dir]!;
      expect(served.inputs, e.model).toEqual(e.inputs.map((i) => i.name));
      const diff = maxAbsDiff(served.scores, expected.scores);
      expect(diff, `${e.model}: served vs predictions.csv`).toBeLessThanOrEqual(TOLERANCE);
      // The rows' scores differ by much more than the tolerance: the comparison tells rows apart.
      expect(Math.max(...served.scores) - Math.min(...served.scores), `${e.model}: scores spread`).toBeGreaterThan(10 * TOLERANCE);
      diffs.push(`${e.model} ${diff.toExponential(1)}`);
    }
    console.log(`served vs predictions.csv on ${labels.length} test rows, largest difference per model: ${diffs.join(", ")}`);
  }, 1_200_000);

  it("serves what each model's predictTarget reads: MKT is TEM plus MEM's target path, w/o TEM finetune MEM's target tower", async () => {
    const parameters = async (model: string): Promise<string[]> =>
      (JSON.parse(await readFile(join(servingDir(experiment.runDir, model, 1), INPUTS_FILE), "utf8")) as ServingDescription).graph.parameters;
    const mkt = await parameters("mkt");
    expect(mkt.some((p) => p.startsWith("tem/"))).toBe(true);
    expect(mkt.filter((p) => p.startsWith("mem/")).length).toBeGreaterThan(0);
    for (const prefix of ["mem/hfa_target/", "mem/cke/level0/target_expert0/", "mem/cke/level0/shared_expert0/", "mem/cke/level1/target_gate/"]) {
      expect(mkt.some((p) => p.startsWith(prefix)), prefix).toBe(true);
    }
    // MEM's source path, its independent extractors and towers are not on the target path.
    for (const prefix of ["mem/hfa_source/", "mem/cke/level0/source_", "mem/ske/", "mem/tke/", "mem/tower_"]) {
      expect(mkt.filter((p) => p.startsWith(prefix)), prefix).toEqual([]);
    }
    const memOnly = await parameters("mkt-wo_tem_finetune");
    expect(memOnly.some((p) => p.startsWith("mem/tower_target/"))).toBe(true);
    expect(memOnly.some((p) => p.startsWith("mem/tke/"))).toBe(true);
    for (const prefix of ["tem/", "mem/tower_source/", "mem/ske/", "mem/hfa_source/"]) expect(memOnly.filter((p) => p.startsWith(prefix)), prefix).toEqual([]);
    // A single-domain model reads no source-specific feature; a joint one reads both entities' (the naive union).
    const sourceInputs = (model: string) => exported.find((e) => e.model === model)!.inputs.filter((i) => i.column?.startsWith("source__") && i.kind === "feature");
    expect(sourceInputs("mlp")).toEqual([]);
    expect(sourceInputs("mmoe").length).toBe(dataset.schema.entities.source.specificColumns.length);
    for (const input of sourceInputs("mmoe")) expect(input.description).toMatch(/: 0 for a content impression, as in the data/);
  });

  it("with or without mkt's kernel overrides, the traced graph serves the same scores", async () => {
    const model = await loadFinishedModel(experiment, dataset, mktRecipe(), 1, "");
    const plainDir = join(outRoot, "mkt-no-overrides");
    try {
      removeKernelOverrides();
      const without = await exportServingModel(model, dataset.schema, plainDir, { model: "mkt" });
      applyKernelOverrides("wasm");
      // With the overrides Dense runs fused matmuls (bias and ReLU in the kernel); without, matmul, add and relu.
      const withOverrides = JSON.parse(await readFile(join(servingDir(experiment.runDir, "mkt", 1), INPUTS_FILE), "utf8")) as ServingDescription;
      expect(withOverrides.graph.ops["_FusedMatMul"]).toBeGreaterThan(0);
      expect(without.description.graph.ops["_FusedMatMul"]).toBeUndefined();
      expect(without.description.graph.parameters).toEqual(withOverrides.graph.parameters);
      const { batch } = await testInputs(dataset);
      const fused = servingDir(experiment.runDir, "mkt", 1);
      const plain = await plainPredict(outRoot, batch, [fused, plainDir]);
      expect(maxAbsDiff(plain[fused]!.scores, plain[plainDir]!.scores)).toBeLessThanOrEqual(1e-6);
    } finally {
      applyKernelOverrides("wasm");
      model.module.dispose();
    }
    expect(tf.getBackend()).toBe("wasm");
  }, 600_000);

  it("--model and --seed export only those", async () => {
    const printed = JSON.parse(await runMkt(outRoot, "export", specFile, "--model", "mlp", "mkt-wo_hfa", "--seed", "1")) as Array<{ model: string; seed: number }>;
    expect(printed.map((p) => [p.model, p.seed])).toEqual([
      ["mlp", 1],
      ["mkt-wo_hfa", 1],
    ]);
  });
});
