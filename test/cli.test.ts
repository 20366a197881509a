import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "./helpers/prepared.ts";

function mkt(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  return mktWithEnv({}, ...args);
}

function mktWithEnv(env: Record<string, string>, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync("node", ["bin/mkt", "--log-level", "silent", ...args], { encoding: "utf8", timeout: 300_000, env: { ...process.env, ...env } });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe("mkt command line", () => {
  it("--help lists every command", () => {
    const { code, stdout } = mkt("--help");
    expect(code).toBe(0);
    for (const command of ["prepare", "pretrain", "finetune", "eval", "ablate", "baselines", "report", "run", "info", "export"]) {
      expect(stdout).toMatch(new RegExp(`^  ${command} `, "m"));
    }
  });

  it("info names the backend in use and why faster ones are not", () => {
    const { code, stdout } = mkt("info");
    expect(code).toBe(0);
    expect(stdout).toMatch(/^backend: (gpu|node|wasm|cpu) /m);
    expect(stdout).toMatch(/^  gpu /m);
    expect(stdout).not.toContain("Hi, looks like");
  });

  it("a bad spec: one line, exit 2, nothing written", async () => {
    const dir = await tempDir();
    const spec = join(dir, "bad.yaml");
    await writeFile(spec, "name: bad\nraw_dir: .\ntables: {}\nentities:\n  source: { name: a, table: a, label: { column: r } }\n  target: { name: b, table: b, labels: 1 }\n");
    const out = join(dir, "out");
    const { code, stderr } = mkt("--out", out, "prepare", spec);
    expect(code).toBe(2);
    expect(stderr.trim().split("\n")).toEqual([`mkt: ${spec}:6: entities.target.labels: unknown field (check its spelling; see docs/specs.md for the fields this spec takes)`]);
    expect(existsSync(out)).toBe(false);
  });

  it("an experiment-spec error is answered without loading tfjs (it loads on a command's first op)", async () => {
    const dir = await tempDir();
    // Records each load of the tfjs package (src/engine/tf.ts requires it on first use).
    const hook = join(dir, "hook.cjs");
    const loads = join(dir, "loads.txt");
    await writeFile(hook, `const M = require("module"); const load = M._load; M._load = function (request) { if (request === "@tensorflow/tfjs") require("fs").appendFileSync(${JSON.stringify(loads)}, "tfjs\\n"); return load.apply(this, arguments); };`);
    const spec = join(dir, "bad.yaml");
    await writeFile(spec, `name: bad\ndataset: ${join(process.cwd(), "datasets", "synthetic-tiny.yaml")}\nmodels: [mkt, mlp, din]\nseeds: [1, 1]\n`);
    const env = { NODE_OPTIONS: `--require ${hook}` };
    const bad = mktWithEnv(env, "--out", join(dir, "out"), "run", spec);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("seeds.1: 1 is listed twice");
    expect(existsSync(loads)).toBe(false);
    // The hook does see tfjs when a command computes.
    expect(mktWithEnv(env, "info").code).toBe(0);
    expect(readFileSync(loads, "utf8")).toContain("tfjs");
  });

  it("bad raw data: one line naming file, line and column, exit 2", async () => {
    const dir = await tempDir();
    await writeFile(join(dir, "s.csv"), "user_id,item_id,click\nu1,i1,1\nu2,,0\n");
    await writeFile(join(dir, "t.csv"), "user_id,item_id,click\nu1,j1,1\n");
    const spec = join(dir, "d.yaml");
    await writeFile(
      spec,
      "name: d\nraw_dir: .\ntables:\n  s: { path: s.csv }\n  t: { path: t.csv }\nentities:\n  source: { name: a, table: s, label: { column: click } }\n  target: { name: b, table: t, label: { column: click } }\nsplit: { by: user_order }\n",
    );
    const { code, stderr } = mkt("--out", join(dir, "out"), "prepare", spec);
    expect(code).toBe(2);
    expect(stderr.trim()).toBe(`mkt: ${join(dir, "s.csv")}: line 3, column item_id: missing item id`);
    expect(existsSync(join(dir, "out"))).toBe(false);
  });

  it("prepare prints the summary; report on a directory that is not a run says so", async () => {
    const out = await tempDir();
    const prepared = mkt("--out", out, "prepare", "datasets/synthetic-tiny.yaml");
    expect(prepared.code).toBe(0);
    expect(prepared.stdout).toMatch(/^Prepared synthetic-tiny → .*: 40,000 raw rows/);
    expect(prepared.stdout).toMatch(/^target\/test +[\d,]+ +[\d,]+ +[\d.]+% +[\d,]+$/m);
    expect(prepared.stdout).toContain("users in target test");
    const report = mkt("report", out);
    expect(report.code).toBe(2);
    expect(report.stderr.trim()).toBe(`mkt: ${out}/experiment.json: cannot read it: is ${out} a run directory (results/runs/<name>-<key>)?`);
  });
});
