import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { main } from "../src/cli/main.ts";
import { planSuite, suiteDir, type SuiteManifest } from "../src/run/suite.ts";
import { expandVariants, suiteSpecSchema } from "../src/spec/suite.ts";
import { UserError } from "../src/util/errors.ts";
import { tempDir } from "./helpers/prepared.ts";

const BASE = `name: stiny
generator: { kind: synthetic, seed: 7, users: 200, days: 4, source_items: 300, target_items: 100, target_rows_per_user: 10, source_per_target: 2, target_ctr: 0.2, source_ctr: 0.2, categories: 8, creators: 40 }
tables:
  users: { path: users.parquet }
  source_items: { path: source_items.parquet }
  target_items: { path: target_items.parquet }
  source_impressions: { path: source_impressions.parquet }
  target_impressions: { path: target_impressions.parquet }
users: { table: users, key: user_id, fields: [{ name: gender }] }
entities:
  source: { name: product, table: source_impressions, time_column: ts, label: { column: click }, true_probability_column: p_true, items: { table: source_items }, specific: [{ name: price, type: numeric }] }
  target: { name: content, table: target_impressions, time_column: ts, label: { column: click }, true_probability_column: p_true, items: { table: target_items }, specific: [{ name: style }] }
shared: [{ name: category }]
split: { by: time, slice_seconds: 86400 }
`;

const EXPERIMENT = `experiment:
  models: [mlp, din]
  ablations: []
  seeds: [1]
  reference_model: mlp
  training: { batch_size: 512, learning_rate: 0.005, max_epochs: 1, patience: 1 }
  sizes: { embedding_dim: 4, mlp: [8, 4], tower: [4], attention: [4], hfa_dim: 4, cke_levels: [8, 4] }
`;

async function suiteFiles(body: string): Promise<{ dir: string; file: string }> {
  const dir = await tempDir("mkt-suite-");
  await writeFile(join(dir, "base.yaml"), BASE);
  const file = join(dir, "suite.yaml");
  await writeFile(file, `name: tsuite\ndataset: base.yaml\n${EXPERIMENT}${body}`);
  return { dir, file };
}

describe("suites: one experiment over generator settings", () => {
  it("a sweep is the cartesian product of its values, the first field varying slowest, with short names", () => {
    const spec = suiteSpecSchema.parse({ name: "s", dataset: "d.yaml", sweep: { taste_correlation: [-0.5, 0.9], source_per_target: [1, 10] } });
    expect(expandVariants(spec)).toEqual([
      { name: "tc-m0p5_spt-1", generator: { taste_correlation: -0.5, source_per_target: 1 } },
      { name: "tc-m0p5_spt-10", generator: { taste_correlation: -0.5, source_per_target: 10 } },
      { name: "tc-0p9_spt-1", generator: { taste_correlation: 0.9, source_per_target: 1 } },
      { name: "tc-0p9_spt-10", generator: { taste_correlation: 0.9, source_per_target: 10 } },
    ]);
  });

  it("derives each variant's dataset and experiment spec: the base with the variant's generator fields and models", async () => {
    const { dir, file } = await suiteFiles("variants:\n  - { name: seq, about: recent clicks, generator: { sequence_weight: 3 }, models: [mlp, din] }\n  - { name: plain }\n");
    const out = join(dir, "out");
    const manifest = await planSuite(file, out);
    expect(manifest.variants.map((v) => v.name)).toEqual(["seq", "plain"]);
    const dataset = parse(await readFile(manifest.variants[0]!.datasetFile, "utf8"));
    expect(dataset.name).toBe("stiny-seq");
    expect(dataset.generator.sequence_weight).toBe(3);
    expect(dataset.generator.users).toBe(200);
    const experiment = parse(await readFile(manifest.variants[0]!.experimentFile, "utf8"));
    expect(experiment).toMatchObject({ name: "tsuite-seq", models: ["mlp", "din"], reference_model: "mlp", dataset: manifest.variants[0]!.datasetFile });
    const plain = parse(await readFile(manifest.variants[1]!.datasetFile, "utf8"));
    expect(plain.generator.sequence_weight ?? 0).toBe(0);
    const stored = JSON.parse(await readFile(join(suiteDir(out, "tsuite"), "suite.json"), "utf8")) as SuiteManifest;
    expect(stored.variants.map((v) => v.name)).toEqual(["seq", "plain"]);
  });

  it("a variant that makes a bad spec is refused, naming the suite file and the variant, before anything is written", async () => {
    const { dir, file } = await suiteFiles("variants:\n  - { name: ok }\n  - { name: bad, generator: { taste_correlation: 3 } }\n");
    const error = await planSuite(file, join(dir, "out")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).message).toMatch(new RegExp(`^${file}: variant 'bad': dataset generator.taste_correlation: `));
    const noReference = await suiteFiles("variants:\n  - { name: v, models: [din] }\n");
    expect(((await planSuite(noReference.file, join(noReference.dir, "out")).catch((e: unknown) => e)) as Error).message).toMatch(/variant 'v': experiment reference_model: 'mlp' is not among models/);
    const { existsSync } = await import("node:fs");
    expect(existsSync(join(dir, "out"))).toBe(false);
  });

  it("mkt run on a suite runs every variant and writes the suite report: each model against the reference with its interval, Oracle and ItemPop", async () => {
    const { dir, file } = await suiteFiles("sweep:\n  sequence_weight: [0, 4]\n");
    const out = join(dir, "out");
    const stdout: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => (stdout.push(String(chunk)), true)) as typeof process.stdout.write;
    let code: number;
    let again: number;
    try {
      code = await main(["--out", out, "--log-level", "silent", "--backend", "wasm", "run", file]);
      // mkt report on the suite directory writes the same report again.
      again = await main(["--log-level", "silent", "report", suiteDir(out, "tsuite")]);
    } finally {
      process.stdout.write = write;
    }
    expect(code).toBe(0);
    expect(again).toBe(0);
    const report = JSON.parse(await readFile(join(suiteDir(out, "tsuite"), "report", "suite.json"), "utf8"));
    expect(report.missing).toEqual([]);
    expect(report.comparisons.map((c: { variant: string; model: string }) => [c.variant, c.model])).toEqual([
      ["sw-0", "din"],
      ["sw-4", "din"],
    ]);
    for (const c of report.comparisons) {
      expect(c.aucDifference).toBeCloseTo(c.auc - c.referenceAuc, 12);
      expect(c.aucInterval.lo).toBeLessThan(c.aucInterval.hi);
      expect(c.oracleAuc).toBeGreaterThan(c.itemPopAuc);
    }
    const html = await readFile(join(suiteDir(out, "tsuite"), "report", "suite.html"), "utf8");
    expect(html).toContain("AUC − MLP's (points) against sequence_weight");
    expect(stdout.join("")).toContain("# Suite report: tsuite");
  }, 600_000);
});
