import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { tempDir } from "./helpers/prepared.ts";

const SPEC =
  `name: corrupt\ndataset: ${resolve("datasets/synthetic-tiny.yaml")}\nmodels: [mkt]\nablations: []\nseeds: [1]\nreference_model: mkt\n` +
  "training: { batch_size: 512, learning_rate: 0.005, max_epochs: 1, shuffle_buffer: 4096 }\n" +
  "sizes: { embedding_dim: 4, mlp: [16, 8], tower: [8], attention: [8], hfa_dim: 8, cke_levels: [16, 8] }\n";

function mkt(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync("node", ["bin/mkt", "--backend", "wasm", ...args], { encoding: "utf8", timeout: 600_000 });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Flips one bit in the middle of a file. */
async function flipBit(file: string): Promise<void> {
  const bytes = await readFile(file);
  bytes[bytes.length >> 1]! ^= 0x01;
  await writeFile(file, bytes);
}

let out: string;
let spec: string;
let runDir: string;
let modelDir: string;
/** MKT's metrics and predictions after the first, clean run. */
let clean: { metrics: unknown; predictions: string };

const outcome = async () => ({
  metrics: JSON.parse(await readFile(join(modelDir, "result.json"), "utf8")).metrics,
  predictions: await readFile(join(modelDir, "predictions.csv"), "utf8"),
});

beforeAll(async () => {
  const dir = await tempDir();
  spec = join(dir, "spec.yaml");
  await writeFile(spec, SPEC);
  out = join(dir, "out");
  expect(mkt("--log-level", "silent", "--out", out, "run", spec).code).toBe(0);
  runDir = join(out, "runs", readdirSync(join(out, "runs"))[0]!);
  modelDir = join(runDir, "mkt", "seed-1");
  clean = await outcome();
});

describe("artefacts that cannot lie", () => {
  it("mkt eval on a finished result prints it and does not rewrite it", async () => {
    const files = ["result.json", "metrics.json", "predictions.csv", "checksums.json"].map((f) => join(modelDir, f));
    const before = await Promise.all(files.map(async (f) => [await readFile(f, "utf8"), (await stat(f)).mtimeMs]));
    const evaluated = mkt("--json", "--log-level", "silent", "--out", out, "eval", spec);
    expect(evaluated.code).toBe(0);
    expect(JSON.parse(evaluated.stdout)[0].metrics).toEqual(clean.metrics);
    expect(await Promise.all(files.map(async (f) => [await readFile(f, "utf8"), (await stat(f)).mtimeMs]))).toEqual(before);
  });

  it("a corrupted result.json: report and eval stop with exit 2 naming it; run computes it again, as it does a corrupted MEM checkpoint", async () => {
    const result = join(modelDir, "result.json");
    const memWeights = join(modelDir, "stage-pretrain", "checkpoint", "weights.bin");
    await flipBit(result);
    await flipBit(memWeights);
    const problem = `${result}: corrupted (its SHA-256 does not match checksums.json)`;

    const report = mkt("--log-level", "silent", "report", runDir);
    expect(report.code).toBe(2);
    expect(report.stderr.trim().split("\n")).toEqual([`mkt: ${problem}: rerun 'mkt run ${spec}', which computes it again`]);
    const evaluated = mkt("--log-level", "silent", "--out", out, "eval", spec);
    expect(evaluated.code).toBe(2);
    expect(evaluated.stderr.trim().split("\n")).toEqual([`mkt: ${problem}: delete ${result} and rerun 'mkt eval ${spec}'`]);

    const run = mkt("--json", "--log-level", "warn", "--out", out, "run", spec);
    expect(run.code).toBe(0);
    const warnings = run.stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { file?: string; msg: string });
    expect(warnings.map((w) => w.file)).toEqual([result, memWeights]);
    expect(warnings[1]!.msg).toBe(`${memWeights}: corrupted (its SHA-256 does not match manifest.json): training the stage again`);
    // The stage trained again gives the same bits: the same metrics and predictions as before.
    expect(await outcome()).toEqual(clean);
    const stages = JSON.parse(await readFile(result, "utf8")).stages.map((s: { stage: string; resumed: boolean }) => [s.stage, s.resumed]);
    expect(stages).toEqual([
      ["pretrain", false],
      ["finetune", true],
    ]);
    expect(mkt("--log-level", "silent", "report", runDir).code).toBe(0);
  });

  it("a corrupted prepared Parquet file: exit 2 naming it and how to prepare it again, before anything is written", async () => {
    const parquet = join(out, "prepared", "synthetic-tiny", "target", "train.parquet");
    await flipBit(parquet);
    const experimentFile = join(runDir, "experiment.json");
    const before = (await stat(experimentFile)).mtimeMs;
    const run = mkt("--log-level", "silent", "--out", out, "run", spec);
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split("\n")).toEqual([
      `mkt: ${parquet}: corrupted (its SHA-256 does not match checksums.json): prepare it again with 'mkt prepare --force ${resolve("datasets/synthetic-tiny.yaml")}'`,
    ]);
    expect((await stat(experimentFile)).mtimeMs).toBe(before);
  });
});
