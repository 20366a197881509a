import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectRun } from "../../src/report/collect.ts";
import { writeReport } from "../../src/report/index.ts";
import { buildTables, type ModelRow, type Tables } from "../../src/report/tables.ts";
import { mainFixture, makeResult, makeRunDir, parseCsv, removeRunDirs } from "./fixtures.ts";

afterAll(removeRunDirs);

const row = (rows: readonly ModelRow[], model: string, group?: string): ModelRow => {
  const found = rows.find((r) => r.model === model && (group === undefined || (r as { group?: string }).group === group));
  if (!found) throw new Error(`no row ${model} ${group ?? ""}`);
  return found;
};

describe("collectRun", () => {
  it("reads every complete result and lists what is missing, with why", async () => {
    const run = await collectRun(await mainFixture());
    expect(run.experiment.spec.reference_model).toBe("fibinet");
    expect(run.results.map((r) => `${r.model}/${r.seed}`)).toEqual([
      "mkt/1",
      "mkt/2",
      "mkt/3",
      "mlp/1",
      "mlp/2",
      "mlp/3",
      "fibinet/1",
      "fibinet/2",
      "fibinet/3",
      "finetune/1",
      "finetune/2",
      "mkt-wo_pdl/1",
      "mkt-wo_pdl/2",
      "mkt-wo_pdl/3",
    ]);
    expect(run.missing).toEqual([
      // Every run scores ItemPop; this fixture's run has not.
      { model: "itempop", seed: 1, reason: "not run" },
      { model: "itempop", seed: 2, reason: "not run" },
      { model: "itempop", seed: 3, reason: "not run" },
      { model: "finetune", seed: 3, reason: "no result.json yet (present: stage-pretrain)" },
      { model: "mkt-wo_hfa", seed: 1, reason: "not run" },
      { model: "mkt-wo_hfa", seed: 2, reason: "not run" },
      { model: "mkt-wo_hfa", seed: 3, reason: "not run" },
    ]);
  });

  it("skips unreadable results and results of another (model, seed)", async () => {
    const runDir = await makeRunDir({ models: ["mlp"], ablations: [], seeds: [1, 2] }, [makeResult("mlp", 1, 0.7, 0.6), makeResult("mlp", 2, 0.7, 0.6)]);
    await writeFile(join(runDir, "mlp", "seed-1", "result.json"), "{ truncated");
    await writeFile(join(runDir, "mlp", "seed-2", "result.json"), JSON.stringify(makeResult("mlp", 5, 0.7, 0.6)));
    const run = await collectRun(runDir);
    expect(run.results).toEqual([]);
    expect(run.missing).toEqual([
      { model: "itempop", seed: 1, reason: "not run" },
      { model: "itempop", seed: 2, reason: "not run" },
      { model: "mlp", seed: 1, reason: "result.json is not a valid result: not valid JSON" },
      { model: "mlp", seed: 2, reason: "result.json is for mlp seed 5" },
    ]);
  });

  it("reads NaN metrics (null in JSON) back as NaN", async () => {
    const runDir = await makeRunDir({ models: ["mlp"], ablations: [], seeds: [1] }, [makeResult("mlp", 1, NaN, 0.6)]);
    const run = await collectRun(runDir);
    expect(run.results[0]!.metrics.auc).toBeNaN();
    expect(buildTables(run).table2.rows[0]!.auc.mean).toBeNaN();
  });

  it("rejects a directory without experiment.json", async () => {
    await expect(collectRun(join(await mainFixture(), "mlp"))).rejects.toThrow(/experiment\.json: cannot read it/);
  });
});

describe("tables", () => {
  let tables: Tables;
  beforeAll(async () => {
    tables = buildTables(await collectRun(await mainFixture()));
  });

  it("Table 2: models in the paper's order with mean ± std over seeds", () => {
    const t = tables.table2;
    expect(t.rows.map((r) => [r.category, r.label])).toEqual([
      ["single-domain", "MLP"],
      ["single-domain", "FiBiNet"],
      ["pre-training & fine-tuning", "Finetune"],
      ["ours", "MKT"],
    ]);
    const mkt = row(t.rows, "mkt");
    expect(mkt.seeds).toEqual([1, 2, 3]);
    expect(mkt.auc.perSeed).toEqual([
      { seed: 1, value: 0.702 },
      { seed: 2, value: 0.713 },
      { seed: 3, value: 0.724 },
    ]);
    expect(mkt.auc.mean).toBeCloseTo(0.713, 12);
    expect(mkt.auc.std).toBeCloseTo(0.011, 12);
    expect(mkt.gauc.mean).toBeCloseTo(0.63, 12);
    expect(mkt.gauc.std).toBeCloseTo(0, 12);
    expect(mkt.auc.comparison!.improvement).toBeCloseTo(0.422535211267606, 10);
    expect(mkt.gauc.comparison!.improvement).toBeCloseTo(3.2786885245901667, 10);
    expect(mkt.auc.comparison!.sameSign).toBe(true);
    expect(mkt.auc.comparison!.pValue).toBeCloseTo(0.0350987186, 8);
    expect(mkt.gauc.comparison!.pValue).toBeCloseTo(0.0741799002, 8);

    const fibinet = row(t.rows, "fibinet");
    expect(fibinet.auc.mean).toBeCloseTo(0.71, 12);
    expect(fibinet.auc.std).toBeCloseTo(0.01, 12);
    expect(fibinet.auc.comparison).toBeNull();

    const mlp = row(t.rows, "mlp");
    expect(mlp.auc.mean).toBeCloseTo(0.701666666666667, 12);
    expect(mlp.auc.std).toBeCloseTo(0.0125830573921179, 12);
    expect(mlp.auc.comparison!.improvement).toBeCloseTo(-1.173708920187805, 10);
    expect(mlp.auc.comparison!.sameSign).toBe(false);

    const finetune = row(t.rows, "finetune");
    expect(finetune.seeds).toEqual([1, 2]);
    expect(finetune.auc.mean).toBeCloseTo(0.7085, 12);
    expect(finetune.auc.std).toBeCloseTo(0.00494974746830583, 12);
    expect(finetune.auc.comparison!.improvement).toBeCloseTo(-0.2112676056338108, 10);
    expect(finetune.auc.comparison!.seeds).toEqual([1, 2]);
    expect(finetune.auc.comparison!.sameSign).toBe(true);
    expect(finetune.auc.comparison!.pValue).toBeNull();
    expect(t.absent).toEqual([]);
  });

  it("Table 3: per user group, the reference first, improvements vs the reference", () => {
    const t = tables.table3;
    expect(t.referencePresent).toBe(true);
    expect(t.groups).toEqual([
      { group: "<10", samples: 500, positives: 100, users: 50 },
      { group: "10–30", samples: 300, positives: 60, users: 30 },
      { group: "≥30", samples: 100, positives: 20, users: 10 },
    ]);
    expect(t.rows.map((r) => `${r.group} ${r.model}`)).toEqual(
      ["<10", "10–30", "≥30"].flatMap((g) => ["fibinet", "mlp", "finetune", "mkt"].map((m) => `${g} ${m}`)),
    );
    const mkt = row(t.rows, "mkt", "<10");
    expect(mkt.auc.mean).toBeCloseTo(0.703, 12);
    expect(mkt.auc.std).toBeCloseTo(0.011, 12);
    expect(mkt.auc.comparison!.improvement).toBeCloseTo(0.428571428571429, 10);
    expect(mkt.gauc.mean).toBeCloseTo(0.62, 12);
    expect(mkt.gauc.comparison!.improvement).toBeCloseTo(((0.62 - 0.6) / 0.6) * 100, 10);
    const mktHigh = row(t.rows, "mkt", "≥30");
    expect(mktHigh.auc.comparison!.improvement).toBeCloseTo(((0.723 - 0.72) / 0.72) * 100, 10);
    expect(mktHigh.auc.comparison!.pValue).toBeCloseTo(0.0350987186, 6);
    expect(row(t.rows, "fibinet", "10–30").auc.comparison).toBeNull();
  });

  it("Table 4: ablations then full MKT, change vs full MKT", () => {
    const t = tables.table4;
    expect(t.fullPresent).toBe(true);
    expect(t.rows.map((r) => r.label)).toEqual(["w/o PDL", "Full MKT"]);
    expect(t.absent).toEqual(["mkt-wo_hfa"]);
    const woPdl = row(t.rows, "mkt-wo_pdl");
    expect(woPdl.auc.mean).toBeCloseTo(0.711, 12);
    expect(woPdl.auc.std).toBeCloseTo(0.00953939201416946, 12);
    expect(woPdl.auc.comparison!.improvement).toBeCloseTo(-0.2805049088359049, 10);
    expect(woPdl.auc.comparison!.sameSign).toBe(true);
    // Differences −0.001, −0.001, −0.004: t = −2, df = 2, p = 1 − 2/√6.
    expect(woPdl.auc.comparison!.pValue).toBeCloseTo(0.1835034191, 8);
    expect(woPdl.gauc.mean).toBeCloseTo(0.625, 12);
    expect(woPdl.gauc.comparison!.improvement).toBeCloseTo(-0.7936507936507943, 10);
    // Differences −0.01, −0.005, 0: one seed shows no change.
    expect(woPdl.gauc.comparison!.sameSign).toBe(false);
    expect(woPdl.gauc.comparison!.pValue).toBeCloseTo(0.2254033308, 8);
    expect(row(t.rows, "mkt").auc.comparison).toBeNull();
  });
});

describe("missing reference model", () => {
  it("says so and shows no improvements", async () => {
    const runDir = await makeRunDir({ models: ["mkt", "mlp", "fibinet"], ablations: [], seeds: [1] }, [makeResult("mkt", 1, 0.72, 0.62), makeResult("mlp", 1, 0.7, 0.6)]);
    const { markdown } = await writeReport(runDir);
    const tables = buildTables(await collectRun(runDir));
    expect(tables.table2.referencePresent).toBe(false);
    expect(tables.table2.absent).toEqual(["fibinet"]);
    expect(tables.table3.referencePresent).toBe(false);
    for (const r of [...tables.table2.rows, ...tables.table3.rows]) {
      expect(r.auc.comparison).toBeNull();
      expect(r.gauc.comparison).toBeNull();
    }
    expect(markdown).toContain("The reference model FiBiNet (fibinet) has no results in this run: no improvements shown.");
    expect(markdown).toContain("Missing: fibinet seed 1: not run");
    expect(markdown).toContain("This run's spec has no ablations.");
    const html = await readFile(join(runDir, "report", "report.html"), "utf8");
    expect(html).toContain("MKT");
    expect(html).toContain("MLP");
  });

  it("Table 4 without full MKT shows no changes", async () => {
    const runDir = await makeRunDir({ models: ["mkt"], ablations: ["wo_hfa"], seeds: [1] }, [makeResult("mkt-wo_hfa", 1, 0.7, 0.6)]);
    const tables = buildTables(await collectRun(runDir));
    expect(tables.table4.fullPresent).toBe(false);
    expect(tables.table4.rows.map((r) => [r.label, r.auc.comparison])).toEqual([["w/o HFA", null]]);
    expect((await writeReport(runDir)).markdown).toContain("Full MKT has no results in this run: no changes shown.");
  });
});

describe("writeReport", () => {
  let runDir: string;
  let written: Awaited<ReturnType<typeof writeReport>>;
  beforeAll(async () => {
    runDir = await mainFixture();
    written = await writeReport(runDir);
  });
  const read = (name: string) => readFile(join(runDir, "report", name), "utf8");

  it("writes every table as Markdown, CSV and JSON, plus report.md and report.html, and nothing else", async () => {
    const names = ["table2", "table3", "table4"].flatMap((t) => ["md", "csv", "json"].map((ext) => `${t}.${ext}`));
    expect(written.files.map((f) => f.slice(join(runDir, "report").length + 1))).toEqual([...names, "report.md", "report.html"]);
    expect((await readdir(join(runDir, "report"))).sort()).toEqual([...names, "report.md", "report.html"].sort());
    expect(await read("report.md")).toBe(written.markdown);
  });

  it("renders the hand-computed numbers in Markdown, with the provenance header", async () => {
    const md = written.markdown;
    // Without predictions.csv: no intervals, the differences of the seed means alone.
    expect(md).toContain("| ours | MKT | 3 | **0.7130 ± 0.0110** | – | +0.0030 | **0.6300 ± 0.0000** | – | +0.0200 |");
    expect(md).toContain("| single-domain | MLP | 3 | 0.7017 ± 0.0126 | – | -0.0083 | 0.5900 ± 0.0100 | – | -0.0200 |");
    expect(md).toContain("| pre-training & fine-tuning | Finetune | 2 | 0.7085 ± 0.0049 | – | -0.0015 | 0.6100 ± 0.0141 | – | +0.0000 |");
    expect(md).toContain("|  | FiBiNet | 3 | 0.7100 ± 0.0100 | – | – | 0.6100 ± 0.0100 | – | – |");
    expect(md).toContain("No bootstrap intervals (turned off, or no readable predictions.csv).");
    // The verdict closes the report: MKT (0.713) vs FiBiNet (0.710), no interval to judge it by.
    expect(md.trimEnd().split("\n").at(-1)).toBe(
      "**Verdict**: Transfer not judged: MKT (best cross-entity) and FiBiNet (best single-domain) differ by +0.30 AUC points, without a bootstrap interval to judge it by; GAUC +2.00.",
    );
    expect(md).toContain("|  | MKT | 3 | **0.7030 ± 0.0110** | +0.43% ✓ p=0.035 | **0.6200 ± 0.0000** | +3.33% ✓ p=0.074 |");
    expect(md).toContain("| w/o PDL | 3 | 0.7110 ± 0.0095 | -0.28% ✓ p=0.184 | 0.6250 ± 0.0050 | -0.79% ✗ p=0.225 |");
    expect(md).toContain("|  | Finetune | 2 | 0.6985 ± 0.0049 | -0.21% ✓ |");
    for (const fact of [
      "**Experiment**: fixture",
      `**Spec**: experiments/fixture.yaml (sha256 ${"a".repeat(64)})`,
      `**Dataset**: synthetic-fixture (fingerprint ${"f".repeat(64)})`,
      "**Seeds**: 1, 2, 3",
      "**Backend**: cpu (tfjs backend cpu)",
      "**Package versions**: @tensorflow/tfjs 4.22.0; node v20.19.0",
      "**Git commit**: 0123456789abcdef0123456789abcdef01234567",
      "**Machine**: linux/x64, 4 × Fixture CPU",
      "**Size note**: fixture sizes",
      "Missing: finetune seed 3: no result.json yet (present: stage-pretrain)",
      // mkt stage "finetune": 10 + 20 + 30 s, epochs 2, 3, 4, seed 3 resumed.
      "| mkt | finetune | 1.0 min | 2, 3, 4 | 3 |",
      "| finetune | total | 32.0 s |  |  |",
    ]) {
      expect(md).toContain(fact);
    }
    expect(await read("table2.md")).toContain("## Provenance");
    expect(await read("table2.md")).not.toContain("Table 3");
  });

  it("writes JSON with per-seed values, means, stds, improvements, the same-sign flag and p-value", async () => {
    const t2 = JSON.parse(await read("table2.json"));
    expect(t2.header.specHash).toBe("a".repeat(64));
    const mkt = t2.rows.find((r: { model: string }) => r.model === "mkt");
    expect(mkt.auc.perSeed).toEqual([
      { seed: 1, value: 0.702 },
      { seed: 2, value: 0.713 },
      { seed: 3, value: 0.724 },
    ]);
    expect(mkt.auc.mean).toBeCloseTo(0.713, 12);
    expect(mkt.auc.std).toBeCloseTo(0.011, 12);
    expect(mkt.auc.comparison.improvement).toBeCloseTo(0.422535211267606, 10);
    expect(mkt.auc.comparison.sameSign).toBe(true);
    expect(mkt.auc.comparison.pValue).toBeCloseTo(0.0350987186, 8);
    const t4 = JSON.parse(await read("table4.json"));
    expect(t4.rows.map((r: { label: string }) => r.label)).toEqual(["w/o PDL", "Full MKT"]);
  });

  it("writes CSV that parses back to the same numbers", async () => {
    const tables = buildTables(await collectRun(runDir));
    const check = (csv: Record<string, string>[], rows: readonly ModelRow[], comparison: string) => {
      expect(csv).toHaveLength(rows.length);
      csv.forEach((line, i) => {
        const r = rows[i]!;
        expect(line.seeds).toBe(r.seeds.join(" "));
        for (const key of ["auc", "gauc"] as const) {
          expect(Number(line[`${key}_mean`])).toBe(r[key].mean);
          expect(Number(line[`${key}_std`])).toBe(r[key].std);
          const c = r[key].comparison;
          expect(line[`${key}_${comparison}`]).toBe(c ? String(c.improvement) : "");
          expect(line[`${key}_same_sign`]).toBe(c ? String(c.sameSign) : "");
          expect(line[`${key}_p_value`]).toBe(c?.pValue == null ? "" : String(c.pValue));
        }
      });
    };
    const t2 = parseCsv(await read("table2.csv"));
    check(t2, tables.table2.rows, "improvement_pct");
    expect(t2.map((l) => l.category)).toEqual(["single-domain", "single-domain", "pre-training & fine-tuning", "ours"]);
    expect(Number(t2[3]!.auc_mean)).toBeCloseTo(0.713, 12);
    expect(Number(t2[3]!.auc_improvement_pct)).toBeCloseTo(0.422535211267606, 10);
    const t3 = parseCsv(await read("table3.csv"));
    check(t3, tables.table3.rows, "improvement_pct");
    expect(t3.map((l) => l.group)).toContain("10–30");
    const t4 = parseCsv(await read("table4.csv"));
    check(t4, tables.table4.rows, "change_pct");
    expect(Number(t4[0]!.auc_change_pct)).toBeCloseTo(-0.2805049088359049, 10);
    expect(Number(t4[0]!.auc_p_value)).toBeCloseTo(0.1835034191, 8);
  });

  it("writes one self-contained HTML page with every model and SVG charts", async () => {
    const html = await read("report.html");
    expect(html.startsWith("<!doctype html>")).toBe(true);
    for (const label of ["MLP", "FiBiNet", "Finetune", "MKT", "w/o PDL", "Full MKT"]) expect(html).toContain(label);
    expect(html).toContain("<svg");
    // Each model is a bar of the AUC and GAUC charts.
    expect(html.match(/<svg/g)!.length).toBeGreaterThanOrEqual(6);
    for (const label of ["MLP", "FiBiNet", "Finetune", "MKT"]) expect(html).toContain(`>${label}</text>`);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\(|\bsrc=/i);
    expect(html).toContain(`sha256 ${"a".repeat(64)}`);
    expect(html).toContain("Missing: finetune seed 3");
  });

  it("leaves no temporary files behind", async () => {
    expect((await readdir(join(runDir, "report"))).filter((f) => f.startsWith(".tmp"))).toEqual([]);
  });
});
