import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { loadExperiment } from "../src/run/experiment.ts";
import { tempDir } from "./helpers/prepared.ts";

const SPEC = (learningRate: number) =>
  `name: resume\ndataset: ${resolve("datasets/synthetic-tiny.yaml")}\nmodels: [mlp, mkt]\nablations: []\nseeds: [1]\nreference_model: mlp\n` +
  `training: { batch_size: 512, learning_rate: ${learningRate}, max_epochs: 1, shuffle_buffer: 4096 }\n` +
  "sizes: { embedding_dim: 4, mlp: [16, 8], tower: [8], attention: [8], hfa_dim: 8, cke_levels: [16, 8] }\n";

function runDirOf(out: string): string {
  const runs = join(out, "runs");
  return join(runs, readdirSync(runs)[0]!);
}

/** Table 2's numbers (model → AUC and GAUC per seed) of a finished run. */
async function table2(out: string): Promise<unknown> {
  const json = JSON.parse(await readFile(join(runDirOf(out), "report", "table2.json"), "utf8")) as { rows: { model: string; auc: { perSeed: unknown }; gauc: { perSeed: unknown } }[] };
  return json.rows.map((r) => [r.model, r.auc.perSeed, r.gauc.perSeed]);
}

const mkt = (out: string, spec: string) => ["bin/mkt", "--log-level", "silent", "--backend", "wasm", "--out", out, "run", spec];

describe("mkt run: run directories and resume", () => {
  it("a changed spec gets a new run directory; the same spec the same one", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "a.yaml"), SPEC(0.005));
    await writeFile(join(dir, "b.yaml"), SPEC(0.004));
    const [a, again, b] = [await loadExperiment(join(dir, "a.yaml"), dir), await loadExperiment(join(dir, "a.yaml"), dir), await loadExperiment(join(dir, "b.yaml"), dir)];
    expect(again.runDir).toBe(a.runDir);
    expect(b.runDir).not.toBe(a.runDir);
    expect(a.runDir).toMatch(/runs\/resume-[0-9a-f]{12}$/);
  });

  // Three `mkt run` processes: minutes when the machine is busy (the suite runs two files at once).
  it("killed mid-run (SIGKILL) and re-run, it ends with the same tables as an uninterrupted run", async () => {
    const dir = await tempDir();
    const spec = join(dir, "spec.yaml");
    await writeFile(spec, SPEC(0.005));
    const whole = join(dir, "whole");
    expect(spawnSync("node", mkt(whole, spec), { encoding: "utf8" }).status).toBe(0);

    const killed = join(dir, "killed");
    const child = spawn("node", mkt(killed, spec), { stdio: "ignore" });
    // Kill as soon as MKT's pretraining has finished (its stage directory sealed: checksums.json is
    // written last, after record.json): MLP is done, MKT is half way.
    const marker = () => existsSync(join(killed, "runs")) && existsSync(join(runDirOf(killed), "mkt", "seed-1", "stage-pretrain", "checksums.json"));
    const exited = new Promise<number | null>((done) => child.on("exit", (code) => done(code)));
    while (!marker() && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
    child.kill("SIGKILL");
    await exited;
    expect(existsSync(join(runDirOf(killed), "mkt", "seed-1", "result.json"))).toBe(false);

    const resumed = spawnSync("node", mkt(killed, spec), { encoding: "utf8" });
    expect(resumed.status).toBe(0);
    // The resumed run reused MLP's result and MKT's pretrain stage rather than training them again.
    const mktResult = JSON.parse(await readFile(join(runDirOf(killed), "mkt", "seed-1", "result.json"), "utf8"));
    expect(mktResult.stages.map((s: { stage: string; resumed: boolean }) => [s.stage, s.resumed])).toEqual([
      ["pretrain", true],
      ["finetune", false],
    ]);
    expect(await table2(killed)).toEqual(await table2(whole));
  }, 1_200_000);

  it("two processes run one spec at once: they share the work, each (model, seed) runs once, no lock is left", { timeout: 1_200_000 }, async () => {
    const dir = await tempDir();
    const spec = join(dir, "spec.yaml");
    await writeFile(spec, SPEC(0.005));
    const out = join(dir, "out");
    const json = (args: string[]) => ["bin/mkt", "--json", "--log-level", "info", ...args.slice(3)];
    const start = () => {
      const child = spawn("node", json(mkt(out, spec)), { stdio: ["ignore", "ignore", "pipe"] });
      let log = "";
      child.stderr.on("data", (chunk: Buffer) => (log += chunk.toString()));
      return new Promise<{ code: number | null; log: string }>((done) => child.on("exit", (code) => done({ code, log })));
    };
    const both = await Promise.all([start(), start()]);
    expect(both.map((b) => b.code)).toEqual([0, 0]);
    const lines = both.flatMap((b) => b.log.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as { msg: string; model?: string; seed?: number }));
    const evaluated = lines.filter((l) => l.msg === "evaluated").map((l) => `${l.model}/${l.seed}`);
    // ItemPop and the Oracle (synthetic data) are scored by every run, like the models.
    expect(evaluated.sort()).toEqual(["itempop/1", "mkt/1", "mlp/1", "oracle/1"]);
    // The dataset was prepared by one of them (the other waited and reused it).
    expect(readdirSync(join(out, "prepared")).filter((f) => !f.startsWith("."))).toEqual(["synthetic-tiny"]);
    const leftovers = spawnSync("find", [out, "-name", "*.lock"], { encoding: "utf8" }).stdout.trim();
    expect(leftovers).toBe("");
  });
});
