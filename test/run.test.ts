import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PreparedDataset } from "../src/data/reader.ts";
import { selectBackend, type BackendInfo } from "../src/engine/backend.ts";
import { buildMem, buildTem } from "../src/models/mkt/index.ts";
import { mktRecipe } from "../src/models/mkt/recipe.ts";
import { loadCheckpoint } from "../src/train/checkpoint.ts";
import { evaluateSplit } from "../src/train/evaluate.ts";
import { loadExperiment, type LoadedExperiment } from "../src/run/experiment.ts";
import { modelDir, runModel } from "../src/run/model-run.ts";
import { UserError } from "../src/util/errors.ts";
import { tempDir } from "./helpers/prepared.ts";
import { SCORE_TOLERANCE } from "./helpers/tolerance.ts";

/** MKT's stages through the run layer on synthetic-tiny: chaining, resume, sharing, skipping. */
describe("run layer: stages, checkpoints and results", () => {
  let out: string;
  let experiment: LoadedExperiment;
  let dataset: PreparedDataset;
  let backend: BackendInfo;
  beforeAll(async () => {
    out = await tempDir();
    const spec = join(out, "exp.yaml");
    await writeFile(
      spec,
      `name: runtest\ndataset: ${resolve("datasets/synthetic-tiny.yaml")}\nmodels: [mkt]\nreference_model: mkt\nseeds: [1]\n` +
        // Two epochs: with the paper's eq. 13 weighting (target rows weigh as much as source rows) one
        // epoch of MEM left this MKT at target test AUC 0.52 (0.59 with per-entity means); two give 0.60.
        "training: { batch_size: 256, learning_rate: 0.005, max_epochs: 2, shuffle_buffer: 4096 }\n" +
        "sizes: { embedding_dim: 4, mlp: [16, 8], tower: [8], attention: [8], hfa_dim: 8, cke_levels: [16, 8] }\n",
    );
    experiment = await loadExperiment(spec, out);
    dataset = await PreparedDataset.open(experiment.prepared.dir);
    backend = await selectBackend("wasm");
  });
  afterAll(() => dataset?.close());

  it("finetune before pretrain fails with a hint", async () => {
    const error = await runModel(mktRecipe(), experiment, dataset, 1, backend, {
      progress: false,
      stopAfter: "finetune",
      requireFinished: { stages: ["pretrain"], hint: "run 'mkt pretrain' first" },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).message).toMatch(/stage 'pretrain' .* has not run yet: run 'mkt pretrain' first/);
  });

  it("pretrain → finetune → eval chain through checkpoints, then a finished run is skipped", async () => {
    const tensorsBefore = tf.memory().numTensors;
    const dir = modelDir(experiment.runDir, "mkt", 1);
    expect(await runModel(mktRecipe(), experiment, dataset, 1, backend, { progress: false, stopAfter: "pretrain" })).toBeUndefined();
    expect(existsSync(join(dir, "stage-pretrain", "record.json"))).toBe(true);
    expect(existsSync(join(dir, "stage-finetune"))).toBe(false);
    await runModel(mktRecipe(), experiment, dataset, 1, backend, { progress: false, stopAfter: "finetune", requireFinished: { stages: ["pretrain"], hint: "" } });
    const result = await runModel(mktRecipe(), experiment, dataset, 1, backend, { progress: false, requireFinished: { hint: "" } });
    expect(result!.stages.map((s) => [s.stage, s.resumed])).toEqual([
      ["pretrain", true],
      ["finetune", true],
    ]);
    expect(result!.metrics.samples).toBe(dataset.stats.splits["target/test"]!.rows);
    expect(result!.metrics.auc).toBeGreaterThan(0.55);
    expect(result!.provenance.backend).toBe("wasm");
    expect(result!.provenance.datasetFingerprint).toBe(dataset.stats.fingerprint);
    const predictions = (await readFile(join(dir, "predictions.csv"), "utf8")).trim().split("\n");
    expect(predictions.length).toBe(result!.metrics.samples + 1);
    const importance = JSON.parse(await readFile(join(dir, "importance.json"), "utf8"));
    expect(Object.keys(importance.target.features)).toEqual(dataset.schema.entities.target.specificColumns);
    // Every model was disposed: no tensors left behind by the three commands.
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    // A finished (model, seed) is skipped: the stored result comes back unchanged.
    const again = await runModel(mktRecipe(), experiment, dataset, 1, backend, { progress: false });
    expect(again).toEqual(result);
  });

  it("a fresh MKT loaded from the finetune checkpoint predicts what was evaluated: bit for bit on the same batches, within the tolerance on others", async () => {
    const options = { schema: dataset.schema, spec: experiment.spec, seed: 99 };
    const tem = buildTem(options, buildMem(options));
    await loadCheckpoint(join(modelDir(experiment.runDir, "mkt", 1), "stage-finetune", "checkpoint"), tem);
    // The run evaluated with training.eval_batch_size: the same batches take the same kernels.
    const same = await evaluateSplit(tem, dataset, { split: "test", batchSize: experiment.spec.training.eval_batch_size });
    // Other batch shapes may take other kernels (OpenBLAS picks them per CPU and shape).
    const other = await evaluateSplit(tem, dataset, { split: "test", batchSize: 512 });
    tem.dispose();
    const stored = (await readFile(join(modelDir(experiment.runDir, "mkt", 1), "predictions.csv"), "utf8")).trim().split("\n").slice(1);
    const scores = Float32Array.from(stored, (line) => Number(line.split(",")[2]));
    expect(scores.length).toBe(same.rows.scores.length);
    expect(Buffer.from(scores.buffer).equals(Buffer.from(same.rows.scores.buffer))).toBe(true);
    let diff = 0;
    scores.forEach((s, i) => (diff = Math.max(diff, Math.abs(s - other.rows.scores[i]!))));
    expect(diff).toBeLessThanOrEqual(SCORE_TOLERANCE);
  });

  it("w/o TEM finetune reuses full MKT's pretrain stage", async () => {
    const result = await runModel(mktRecipe("wo_tem_finetune"), experiment, dataset, 1, backend, { progress: false });
    expect(result!.stages).toHaveLength(1);
    expect(result!.stages[0]!.resumed).toBe(true);
    expect(existsSync(join(modelDir(experiment.runDir, "mkt-wo_tem_finetune", 1), "stage-pretrain"))).toBe(false);
    expect(result!.metrics.auc).toBeGreaterThan(0.5);
  });

  it("with 2 replicas MKT trains both stages across worker threads (TEM's worker rebuilds it from the pretrain checkpoint) to the same quality", async () => {
    const single = JSON.parse(await readFile(join(modelDir(experiment.runDir, "mkt", 1), "result.json"), "utf8"));
    const parallelOut = await tempDir();
    const parallelExperiment = { ...experiment, runDir: join(parallelOut, "runs", "parallel") };
    const result = await runModel(mktRecipe(), parallelExperiment, dataset, 1, { ...backend, replicas: 2 }, { progress: false });
    expect(result!.provenance.replicas).toBe(2);
    expect(result!.stages.map((s) => [s.stage, s.resumed])).toEqual([
      ["pretrain", false],
      ["finetune", false],
    ]);
    expect(Math.abs(result!.metrics.auc - single.metrics.auc)).toBeLessThan(0.02);
  });
});
