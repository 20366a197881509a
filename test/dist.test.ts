import { spawnSync } from "node:child_process";
import { rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bundle } from "../scripts/bundle.mjs";
import { tempDir } from "./helpers/prepared.ts";

// The sources bundled as `npm run build` bundles them (scripts/bundle.mjs), into a directory of the
// checkout (so that packages resolve from its node_modules) rather than over its dist/.
const OUT = resolve(`.tmp-dist-test-${process.pid}`);
const SPEC =
  `name: compiled\ndataset: ${resolve("datasets/synthetic-tiny.yaml")}\nmodels: [mkt]\nablations: []\nseeds: [1]\nreference_model: mkt\n` +
  "training: { batch_size: 512, learning_rate: 0.005, max_epochs: 1, patience: 1 }\n" +
  "sizes: { embedding_dim: 4, mlp: [16, 8], tower: [8], attention: [8], hfa_dim: 8, cke_levels: [16, 8] }\n";

afterAll(async () => {
  await rm(OUT, { recursive: true, force: true });
});

describe("the bundled CLI (dist/)", () => {
  it("runs without a TypeScript loader: help, a spec error, and MKT trained by 2 worker threads", async () => {
    await bundle(process.cwd(), OUT);
    const mkt = (...args: string[]) => spawnSync(process.execPath, [join(OUT, "mkt.js"), ...args], { encoding: "utf8" });

    const help = mkt("--help");
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^  run /m);

    const dir = await tempDir();
    const spec = join(dir, "spec.yaml");
    await writeFile(spec, `${SPEC}bogus: 1\n`);
    const bad = mkt("--out", join(dir, "out"), "run", spec);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe(`mkt: ${spec}:9: bogus: unknown field (check its spelling; see docs/specs.md for the fields this spec takes)\n`);

    // Worker threads load their modules by URL: the bundle's entries, no .ts file anywhere (Node cannot load one without tsx).
    await writeFile(spec, SPEC);
    const run = mkt("--json", "--log-level", "info", "--backend", "wasm", "--workers", "2", "--out", join(dir, "out"), "run", spec);
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ results: [{ model: "itempop" }, { model: "oracle" }, { model: "mkt" }] });
    const lines = run.stderr.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => l.msg === "tfjs backend")).toMatchObject({ backend: "wasm", replicas: 2 });
    // --json: the progress of each stage as a log line (see train/progress.ts).
    const stagesDone = lines.filter((l) => typeof l.msg === "string" && l.msg.includes(": stage done"));
    expect(stagesDone.map((l) => l.stage)).toEqual(["mem:pretrain", "tem:finetune"]);
    for (const l of stagesDone) {
      expect(l).toMatchObject({ model: "mkt", modelIndex: 3, models: 3, seed: 1, seedIndex: 1, seeds: 1, epoch: 1, epochs: 1, stageEtaSeconds: 0 });
      expect(l.runEtaSeconds).toEqual(expect.any(Number));
    }
  });
});
