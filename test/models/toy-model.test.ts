import { appendFile, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/main.ts";
import { modelNames, registerModel } from "../../src/models/registry.ts";
import { modelResultSchema } from "../../src/run/result.ts";
import { readChecksums, verifySealed } from "../../src/util/checksums.ts";
import { toyRecipe } from "../fixtures/toy-model.ts";
import { tempDir } from "../helpers/prepared.ts";

const spec = (extra: string) =>
  `name: toytest\ndataset: ${resolve("datasets/synthetic-tiny.yaml")}\nseeds: [1]\nablations: []\n` +
  "training: { batch_size: 512, learning_rate: 0.005, max_epochs: 1, shuffle_buffer: 4096 }\n" +
  "sizes: { embedding_dim: 4, mlp: [16, 8], tower: [8], attention: [8], hfa_dim: 8, cke_levels: [16, 8] }\n" +
  extra;

/** `mkt <args>` in this process (which registered the toy), with its stderr; stdout is swallowed. */
async function mkt(...args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = "";
  const err = vi.spyOn(process.stderr, "write").mockImplementation((chunk) => ((stderr += String(chunk)), true));
  const out = vi.spyOn(process.stdout, "write").mockImplementation(() => true);
  try {
    return { code: await main(["--log-level", "silent", "--workers", "1", ...args]), stderr };
  } finally {
    err.mockRestore();
    out.mockRestore();
  }
}

describe("a model added as one file and one registry line", () => {
  let dir: string;
  beforeAll(async () => {
    registerModel(toyRecipe);
    dir = await tempDir("mkt-toy-");
  });
  afterEach(() => vi.restoreAllMocks());
  afterAll(async () => dir && rm(dir, { recursive: true, force: true }));

  it("joins the spec: its section is validated with its defaults, its rule holds where it runs", async () => {
    expect(modelNames()).toContain("toy");
    expect(() => registerModel(toyRecipe)).toThrow(/already registered/);
    const write = async (name: string, text: string) => {
      await writeFile(join(dir, name), text);
      return join(dir, name);
    };
    const badSection = await write("bad-section.yaml", spec("models: [toy, mlp]\nreference_model: mlp\ntoy: { hidden: 0 }\n"));
    let run = await mkt("--out", join(dir, "out-bad"), "run", badSection);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(new RegExp(`^mkt: ${badSection}:9: toy\\.hidden: Too small: expected number to be >=1\\n$`));
    const badRule = await write("bad-rule.yaml", spec("models: [toy, mlp]\nreference_model: mlp\n").replace("embedding_dim: 4", "embedding_dim: 32"));
    run = await mkt("--out", join(dir, "out-bad"), "run", badRule);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/sizes\.embedding_dim: the toy takes at most 16\n$/);
    // Without the toy among the models its rule does not apply: the same sizes pass validation (shown by a later error: an unknown seed).
    const noToy = await write("no-toy.yaml", spec("models: [mlp]\nreference_model: mlp\n").replace("embedding_dim: 4", "embedding_dim: 32"));
    run = await mkt("--out", join(dir, "out-bad"), "run", noToy, "--seed", "9");
    expect(run.stderr).toMatch(/--seed 9: not one of the spec's seeds/);
  });

  it("trains, evaluates and is reported by `mkt run`, and exports its serving graph with `mkt export`", async () => {
    const file = join(dir, "toy.yaml");
    await writeFile(file, spec("models: [toy, mlp]\nreference_model: mlp\ntoy: { hidden: 3 }\n"));
    const out = join(dir, "out");
    const run = await mkt("--out", out, "run", file);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const runDir = await runDirOf(out);
    const result = modelResultSchema.parse(JSON.parse(await readFile(join(runDir, "toy", "seed-1", "result.json"), "utf8")));
    expect(result.model).toBe("toy");
    expect(result.category).toBe("single-domain");
    expect(result.stages.map((s) => s.stage)).toEqual(["train"]);
    expect(result.metrics.samples).toBeGreaterThan(0);
    expect(result.metrics.auc).toBeGreaterThan(0.5);
    const experiment = JSON.parse(await readFile(join(runDir, "experiment.json"), "utf8")) as { spec: Record<string, unknown> };
    expect(experiment.spec["toy"]).toEqual({ hidden: 3 });
    // Table 2 lists it by its label, after the built-in models of its category; the report text shows that row.
    const table2 = JSON.parse(await readFile(join(runDir, "report", "table2.json"), "utf8")) as { rows: { model: string; label: string; category: string }[] };
    expect(table2.rows.map((r) => [r.model, r.label, r.category])).toEqual([
      ["itempop", "ItemPop (floor)", "reference"],
      ["mlp", "MLP", "single-domain"],
      ["toy", "Toy", "single-domain"],
      ["oracle", "Oracle (ceiling)", "reference"],
    ]);
    expect(await readFile(join(runDir, "report", "report.md"), "utf8")).toMatch(/\| Toy \| 1 \| (\*\*)?0\.\d{4} ± /);

    const exported = await mkt("--out", out, "export", file, "--model", "toy");
    expect(exported.code).toBe(0);
    const manifest = JSON.parse(await readFile(join(runDir, "toy", "seed-1", "serving", "model.json"), "utf8")) as {
      weightsManifest: { weights: { name: string; shape: number[] }[] }[];
    };
    const hidden = manifest.weightsManifest.flatMap((m) => m.weights).find((w) => w.name === "toy/tower/hidden/dense0/kernel");
    expect(hidden?.shape[1]).toBe(3);
    // Sealed like every artefact: the checksums cover the four files, and a damaged one is seen.
    const serving = join(runDir, "toy", "seed-1", "serving");
    expect(Object.keys((await readChecksums(serving))!.files)).toEqual(["README.md", "inputs.json", "model.json", "weights.bin"]);
    expect(await verifySealed(serving)).toBe(true);
    await appendFile(join(serving, "weights.bin"), "x");
    await expect(verifySealed(serving)).rejects.toThrow(/weights.bin: corrupted/);
  });
});

async function runDirOf(out: string): Promise<string> {
  const runs = (await readdir(join(out, "runs"))).filter((d) => d.startsWith("toytest-"));
  expect(runs).toHaveLength(1);
  return join(out, "runs", runs[0]!);
}
