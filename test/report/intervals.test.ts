import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bootstrap, percentileInterval } from "../../src/metrics/bootstrap.ts";
import type { ModelCategory } from "../../src/models/recipe.ts";
import { collectRun } from "../../src/report/collect.ts";
import { writeReport } from "../../src/report/index.ts";
import { bootstrapRun } from "../../src/report/intervals.ts";
import { buildTables, type ModelRow, type Table2 } from "../../src/report/tables.ts";
import { makeRunDir, parseCsv, removeRunDirs, scoresFor, testRows, writeScoredResult } from "./fixtures.ts";

afterAll(removeRunDirs);

const SETTINGS = { resamples: 200, seed: 3 };

/** Separation strength of each model's scores (per seed: the seed shifts the noise). */
type Plan = Record<string, { category: ModelCategory; strength: number }>;

const PLAN: Plan = {
  itempop: { category: "reference", strength: 0.15 },
  mlp: { category: "single-domain", strength: 0.3 },
  fibinet: { category: "single-domain", strength: 0.35 },
  star: { category: "joint training", strength: 0.7 },
  oracle: { category: "reference", strength: 0.9 },
};

/** The noise stream of a model's scores: references do not depend on the seed; models do. */
const noiseSeed = (plan: Plan, model: string, seed: number): number => (plan[model]!.category === "reference" ? 7 : 100 * seed + Object.keys(plan).indexOf(model));

/** A two-seed run of mlp, fibinet (reference) and star, with ItemPop and the Oracle, every result with its predictions. */
async function scoredRun(plan: Plan): Promise<string> {
  const runDir = await makeRunDir({ models: ["mlp", "fibinet", "star"], ablations: [], seeds: [1, 2], reference_model: "fibinet" }, []);
  const { labels } = testRows();
  for (const [model, { category, strength }] of Object.entries(plan)) {
    for (const seed of [1, 2]) await writeScoredResult(runDir, model, seed, category, scoresFor(labels, strength, noiseSeed(plan, model, seed)));
  }
  return runDir;
}

/** Per resample, the mean over seeds 1 and 2 of a model's metric, computed straight from the bootstrap. */
function seedMeans(plan: Plan, model: string, metric: "auc" | "gauc"): Float64Array {
  const { userKey, labels } = testRows();
  const perSeed = [1, 2].map((seed) => bootstrap([{ scores: scoresFor(labels, plan[model]!.strength, noiseSeed(plan, model, seed)), labels, userKey }], SETTINGS)[metric][0]!);
  return perSeed[0]!.map((x, b) => (x + perSeed[1]![b]!) / 2);
}

const rowOf = (t: Table2, model: string): ModelRow => t.rows.find((r) => r.model === model)!;

describe("Table 2 intervals, floor and ceiling", () => {
  it("brackets every row with the per-user bootstrap of its seed mean and pairs its difference to the reference", async () => {
    const run = await collectRun(await scoredRun(PLAN));
    expect(run.missing).toEqual([]);
    const t = buildTables(run, await bootstrapRun(run, SETTINGS)).table2;
    expect(t.rows.map((r) => [r.category, r.label])).toEqual([
      ["reference", "ItemPop (floor)"],
      ["single-domain", "MLP"],
      ["single-domain", "FiBiNet"],
      ["joint training", "STAR"],
      ["reference", "Oracle (ceiling)"],
    ]);
    expect(t.bootstrap).toEqual({ resamples: 200, seed: 3, level: 0.95, users: 60, problems: [] });
    for (const model of Object.keys(PLAN)) {
      for (const metric of ["auc", "gauc"] as const) {
        const cell = rowOf(t, model)[metric];
        expect(cell.interval).toEqual(percentileInterval(seedMeans(PLAN, model, metric)));
        expect(cell.interval!.lo).toBeLessThan(cell.mean);
        expect(cell.interval!.hi).toBeGreaterThan(cell.mean);
        if (model === "fibinet") {
          expect(cell.difference).toBeNull();
          continue;
        }
        const reference = seedMeans(PLAN, "fibinet", metric);
        expect(cell.difference!.value).toBeCloseTo(cell.mean - rowOf(t, "fibinet")[metric].mean, 15);
        expect(cell.difference!.interval).toEqual(percentileInterval(seedMeans(PLAN, model, metric).map((x, b) => x - reference[b]!)));
      }
    }
  });

  it("places each model between ItemPop and the Oracle: the share of the gap it closes", async () => {
    const run = await collectRun(await scoredRun(PLAN));
    const t = buildTables(run, null).table2;
    const floor = rowOf(t, "itempop").auc.mean;
    const ceiling = rowOf(t, "oracle").auc.mean;
    expect(t.gapClosed![0]).toEqual({ auc: 0, gauc: 0 });
    expect(t.gapClosed![4]).toEqual({ auc: 100, gauc: 100 });
    expect(t.gapClosed![3]!.auc).toBeCloseTo(((rowOf(t, "star").auc.mean - floor) / (ceiling - floor)) * 100, 10);
    expect(t.gapClosed![3]!.auc).toBeGreaterThan(t.gapClosed![1]!.auc);
  });

  it("writes the intervals, the gap and the verdict to Markdown, CSV, JSON and HTML; the Oracle is never 'best'", async () => {
    const runDir = await scoredRun(PLAN);
    const { markdown } = await writeReport(runDir, undefined, SETTINGS);
    const read = (name: string) => readFile(join(runDir, "report", name), "utf8");
    const tables = buildTables(await collectRun(runDir), await bootstrapRun(await collectRun(runDir), SETTINGS));
    const t = tables.table2;
    const star = rowOf(t, "star");
    const f = (x: number) => x.toFixed(4);
    const signed = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(4)}`;
    const points = (x: number) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(2)}`;
    expect(markdown).toContain(
      `| joint training | STAR | 2 | **${f(star.auc.mean)} ± ${f(star.auc.std)}** | [${f(star.auc.interval!.lo)}, ${f(star.auc.interval!.hi)}] | ${signed(star.auc.difference!.value)} [${signed(star.auc.difference!.interval!.lo)}, ${signed(star.auc.difference!.interval!.hi)}] |`,
    );
    const oracle = rowOf(t, "oracle");
    expect(markdown).toContain(`| reference | Oracle (ceiling) | 2 | ${f(oracle.auc.mean)} ± 0.0000 |`);
    expect(markdown).toContain("| 100% / 100% |");
    // STAR's separation is far stronger than FiBiNet's (the best single-domain model): transfer helps.
    expect(t.verdict.outcome).toBe("helps");
    expect([t.verdict.crossEntity, t.verdict.singleDomain]).toEqual(["star", "fibinet"]);
    const d = t.verdict.auc!;
    expect(d.interval!.lo).toBeGreaterThan(0);
    const verdict = `Transfer helps: STAR (best cross-entity) beats FiBiNet (best single-domain) by ${points(d.difference)} (95% CI ${points(d.interval!.lo)} to ${points(d.interval!.hi)}) AUC points; GAUC ${points(t.verdict.gauc!.difference)} (95% CI ${points(t.verdict.gauc!.interval!.lo)} to ${points(t.verdict.gauc!.interval!.hi)}).`;
    expect(markdown.trimEnd().split("\n").at(-1)).toBe(`**Verdict**: ${verdict}`);
    expect((await read("table2.md")).trimEnd().split("\n").at(-1)).toBe(`**Verdict**: ${verdict}`);
    expect(await read("report.html")).toContain(`<p class="verdict">${verdict}</p>`);
    const json = JSON.parse(await read("table2.json"));
    expect(json.verdict.text).toBe(verdict);
    expect(json.rows.find((r: { model: string }) => r.model === "star").auc.interval).toEqual(star.auc.interval);
    const csv = parseCsv(await read("table2.csv"));
    expect(csv.map((l) => l.model)).toEqual(["itempop", "mlp", "fibinet", "star", "oracle"]);
    csv.forEach((line, i) => {
      const r = t.rows[i]!;
      for (const metric of ["auc", "gauc"] as const) {
        expect(Number(line[`${metric}_ci_low`])).toBe(r[metric].interval!.lo);
        expect(Number(line[`${metric}_ci_high`])).toBe(r[metric].interval!.hi);
        expect(line[`${metric}_diff`]).toBe(r[metric].difference ? String(r[metric].difference!.value) : "");
        expect(line[`${metric}_diff_ci_low`]).toBe(r[metric].difference ? String(r[metric].difference!.interval!.lo) : "");
      }
      expect(Number(line.gap_closed_auc_pct)).toBe(t.gapClosed![i]!.auc);
    });
  });

  it("says when transfer hurts, when it is not detectable, and when there is nothing to judge", async () => {
    const verdictOf = async (plan: Plan, settings = SETTINGS) => {
      const run = await collectRun(await scoredRun(plan));
      return buildTables(run, await bootstrapRun(run, settings)).table2.verdict;
    };
    const hurts = await verdictOf({ ...PLAN, star: { category: "joint training", strength: 0 } });
    expect(hurts.outcome).toBe("hurts");
    expect(hurts.text).toMatch(/^Transfer hurts: STAR \(best cross-entity\) trails FiBiNet \(best single-domain\) by -\d+\.\d\d \(95% CI -/);
    const off = await verdictOf(PLAN, { resamples: 0, seed: 1 });
    expect(off.outcome).toBe("no interval");
    expect(off.auc!.interval).toBeNull();
  });

  it("finds no transfer where the cross-entity model predicts exactly as the single-domain one", async () => {
    const runDir = await scoredRun(PLAN);
    // STAR's predictions replaced by FiBiNet's, seed by seed (and its result by theirs).
    for (const seed of [1, 2]) {
      const fibinet = join(runDir, "fibinet", `seed-${seed}`);
      const star = join(runDir, "star", `seed-${seed}`);
      await writeFile(join(star, "predictions.csv"), await readFile(join(fibinet, "predictions.csv")));
      const result = JSON.parse(await readFile(join(fibinet, "result.json"), "utf8"));
      await writeFile(join(star, "result.json"), JSON.stringify({ ...result, model: "star", category: "joint training" }));
    }
    const run = await collectRun(runDir);
    const verdict = buildTables(run, await bootstrapRun(run, SETTINGS)).table2.verdict;
    expect(verdict.outcome).toBe("not detectable");
    expect(verdict.auc).toEqual({ difference: 0, interval: { lo: 0, hi: 0 } });
    expect(verdict.text).toBe(
      "No detectable transfer: STAR (best cross-entity) and FiBiNet (best single-domain) differ by +0.00 (95% CI +0.00 to +0.00) AUC points, an interval that includes 0; GAUC +0.00 (95% CI +0.00 to +0.00).",
    );
  });

  it("leaves out predictions of other rows, with a note, and judges nothing without both kinds of model", async () => {
    const runDir = await scoredRun(PLAN);
    const file = join(runDir, "mlp", "seed-2", "predictions.csv");
    const lines = (await readFile(file, "utf8")).split("\n");
    lines[1] = lines[1]!.replace(/^1,/, "61,");
    await writeFile(file, lines.join("\n"));
    const run = await collectRun(runDir);
    const b = await bootstrapRun(run, SETTINGS);
    expect(b!.problems).toEqual(["mlp seed 2: predictions.csv holds other rows than itempop seed 1's"]);
    const t = buildTables(run, b).table2;
    // MLP's interval is that of seed 1 alone.
    const { userKey, labels } = testRows();
    expect(rowOf(t, "mlp").auc.interval).toEqual(percentileInterval(bootstrap([{ scores: scoresFor(labels, 0.3, noiseSeed(PLAN, "mlp", 1)), labels, userKey }], SETTINGS).auc[0]!));
    const md = (await writeReport(runDir, undefined, SETTINGS)).markdown;
    expect(md).toContain("Left out of the bootstrap: mlp seed 2: predictions.csv holds other rows than itempop seed 1's.");

    const singleOnly = await makeRunDir({ models: ["mlp"], ablations: [], seeds: [1] }, []);
    await writeScoredResult(singleOnly, "mlp", 1, "single-domain", scoresFor(labels, 0.3, 1));
    const verdict = buildTables(await collectRun(singleOnly), null).table2.verdict;
    expect(verdict).toMatchObject({ outcome: "no verdict", text: "No verdict on transfer: the run has no cross-entity model with an AUC." });
  });
});
