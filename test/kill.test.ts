import { spawn, spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { mulberry32 } from "../src/util/random.ts";
import { tempDir } from "./helpers/prepared.ts";

// Two models, three epochs each (patience 3: every epoch runs; MLP's epoch 2 and MEM's epoch 3 are
// not their best, so epoch checkpoints carry a best snapshot besides the current weights).
const SPEC =
  `name: killed\ndataset: ${resolve("datasets/synthetic-tiny.yaml")}\nmodels: [mlp, mkt]\nablations: []\nseeds: [1]\nreference_model: mlp\n` +
  "training: { batch_size: 512, learning_rate: 0.005, max_epochs: 3, patience: 3, shuffle_buffer: 4096 }\n" +
  "sizes: { embedding_dim: 4, mlp: [16, 8], tower: [8], attention: [8], hfa_dim: 8, cke_levels: [16, 8] }\n";

const runDirOf = (out: string) => join(out, "runs", readdirSync(join(out, "runs"))[0]!);

interface Run {
  /** Resolves once a log message matches, or once the process has ended. */
  waitFor(pattern: RegExp): Promise<void>;
  kill(): void;
  ended: Promise<{ code: number | null; signal: NodeJS.Signals | null; messages: string[] }>;
}

/** `mkt run` with JSON logs on stderr, watched line by line. */
function start(out: string, spec: string): Run {
  const child = spawn("node", ["bin/mkt", "--json", "--log-level", "info", "--backend", "wasm", "--out", out, "run", spec], { stdio: ["ignore", "ignore", "pipe"] });
  const messages: string[] = [];
  const waiting: Array<{ pattern: RegExp; done: () => void }> = [];
  let partial = "";
  child.stderr.on("data", (chunk: Buffer) => {
    const lines = (partial + chunk.toString()).split("\n");
    partial = lines.pop()!;
    for (const line of lines.filter((l) => l.startsWith("{"))) {
      const msg = (JSON.parse(line) as { msg: string }).msg;
      messages.push(msg);
      for (const w of waiting.filter((w) => w.pattern.test(msg))) w.done();
    }
  });
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null; messages: string[] }>((done) => child.on("exit", (code, signal) => done({ code, signal, messages })));
  return {
    waitFor: (pattern) => Promise.race([new Promise<void>((done) => waiting.push({ pattern, done })), ended.then(() => undefined)]),
    kill: () => child.kill("SIGKILL"),
    ended,
  };
}

/** Locks, temporary files and epoch checkpoints under `out`, one path a line. */
const leftovers = (out: string) => spawnSync("find", [out, "(", "-name", "*.lock", "-o", "-name", ".tmp-*", "-o", "-name", "last-epoch", ")"], { encoding: "utf8" }).stdout.trim();

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Every result's metrics and predictions, and Table 2's numbers. */
async function outcome(out: string): Promise<unknown> {
  const runDir = runDirOf(out);
  const table2 = JSON.parse(await readFile(join(runDir, "report", "table2.json"), "utf8")) as { rows: { model: string; auc: { perSeed: unknown }; gauc: { perSeed: unknown } }[] };
  const perModel: Record<string, unknown> = {};
  for (const model of ["mlp", "mkt"]) {
    const dir = join(runDir, model, "seed-1");
    perModel[model] = {
      metrics: JSON.parse(await readFile(join(dir, "result.json"), "utf8")).metrics,
      predictions: await readFile(join(dir, "predictions.csv"), "utf8"),
    };
  }
  return { table2: table2.rows.map((r) => [r.model, r.auc.perSeed, r.gauc.perSeed]), perModel };
}

// Five `mkt run` processes: minutes when the machine is busy (the suite runs two files at once).
describe("mkt run killed with SIGKILL three times, then run to the end", () => {
  it("ends with the same Table 2, metrics and predictions as an uninterrupted run, resuming inside a stage, with no lock or temporary file left", async () => {
    const dir = await tempDir();
    const spec = join(dir, "spec.yaml");
    await writeFile(spec, SPEC);
    const whole = join(dir, "whole");
    const reference = await start(whole, spec).ended;
    expect(reference.code).toBe(0);

    const out = join(dir, "killed");
    const random = mulberry32(14);
    const messages: string[] = [];
    const left: string[] = [];
    // 1: during MLP's second epoch (its epoch checkpoint after epoch 1 is written just before the log line);
    // 2: at any moment of the next run, startup and the data check included, but before MEM's first epoch ends;
    // 3: during one of MEM's epochs after the first this run trains.
    const moments: Array<(run: Run) => Promise<void>> = [
      async (run) => {
        await run.waitFor(/^mlp:train: epoch 1 /);
        await sleep(300 * random());
      },
      (run) => Promise.race([sleep(500 + 6000 * random()), run.waitFor(/^mem:pretrain: epoch 1 /)]),
      async (run) => {
        await run.waitFor(/^mem:pretrain: epoch \d /);
        await sleep(1000 * random());
      },
    ];
    for (const moment of moments) {
      const run = start(out, spec);
      await moment(run);
      run.kill();
      const ended = await run.ended;
      messages.push(...ended.messages);
      left.push(leftovers(out));
      // Killed, not finished on its own before the moment came.
      expect(ended.signal).toBe("SIGKILL");
    }
    const last = await start(out, spec).ended;
    messages.push(...last.messages);
    expect(last.code).toBe(0);

    expect(await outcome(out)).toEqual(await outcome(whole));
    // The first kill fell inside MLP's training, after its first epoch: a later run went on from there.
    expect(messages.some((m) => /^mlp:train: resuming after epoch [12]$/.test(m))).toBe(true);
    // The first kill left MLP's locks and its epoch checkpoint behind; the last run cleared everything.
    expect(left[0]).toMatch(/mlp\/seed-1\/stage-train\/\.lock/);
    expect(left[0]).toMatch(/mlp\/seed-1\/stage-train\/last-epoch/);
    expect(leftovers(out)).toBe("");
  }, 1_200_000);
});
