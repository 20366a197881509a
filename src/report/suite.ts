/**
 * The report of a suite (src/run/suite.ts): every variant's Table 2 read back from its own report
 * (table2.json), each model set against the reference model on its own setting: the difference in
 * AUC and GAUC points with its paired per-user bootstrap interval, whether it has the same sign in
 * every seed, and the variant's Oracle and ItemPop. A sweep also gets one chart per value of its
 * second field: each model's AUC difference against the first field's values.
 */
import { readFile } from "node:fs/promises";
import { isAbsolute, join, relative } from "node:path";
import type { SuiteManifest, SuiteVariantRecord } from "../run/suite.ts";
import { writeFilesAtomic } from "../util/atomic.ts";
import { escapeXml, lineChart, type LineSeries } from "./charts.ts";
import { htmlPage, section, SERIES_COLORS, tableHtml } from "./html.ts";
import { markdownTable } from "./markdown.ts";
import type { ModelRow, Table2 } from "./tables.ts";
import { points } from "./verdict.ts";
import { intervalText, type TextTable } from "./view.ts";

/** One model against the reference on one variant. */
export interface SuiteComparison {
  variant: string;
  model: string;
  label: string;
  seeds: number;
  auc: number;
  referenceAuc: number;
  /** Seed mean minus the reference's, and its 95% interval (null without predictions). */
  aucDifference: number;
  aucInterval: { lo: number; hi: number } | null;
  gaucDifference: number;
  gaucInterval: { lo: number; hi: number } | null;
  /** The AUC difference has the same sign in every seed (null with one seed). */
  sameSign: boolean | null;
  pValue: number | null;
  oracleAuc: number | null;
  itemPopAuc: number | null;
}

export interface SuiteReport {
  markdown: string;
  files: string[];
  comparisons: SuiteComparison[];
}

type Table2File = Pick<Table2, "reference" | "rows"> & { header: { gitCommits?: unknown; backends?: unknown } };

async function readTable2(variant: SuiteVariantRecord): Promise<Table2File | undefined> {
  if (!variant.runDir) return undefined;
  const text = await readFile(join(variant.runDir, "report", "table2.json"), "utf8").catch(() => undefined);
  return text === undefined ? undefined : (JSON.parse(text) as Table2File);
}

function comparisons(variant: string, table: Table2File): SuiteComparison[] {
  const row = (name: string): ModelRow | undefined => table.rows.find((r) => r.model === name);
  const reference = row(table.reference);
  if (!reference) return [];
  return table.rows
    .filter((r) => r.category !== "reference" && r.model !== table.reference)
    .map((r) => ({
      variant,
      model: r.model,
      label: r.label,
      seeds: r.seeds.length,
      auc: r.auc.mean,
      referenceAuc: reference.auc.mean,
      aucDifference: r.auc.mean - reference.auc.mean,
      aucInterval: r.auc.difference?.interval ?? null,
      gaucDifference: r.gauc.mean - reference.gauc.mean,
      gaucInterval: r.gauc.difference?.interval ?? null,
      sameSign: r.auc.comparison && r.auc.comparison.seeds.length > 1 ? r.auc.comparison.sameSign : null,
      pValue: r.auc.comparison?.pValue ?? null,
      oracleAuc: row("oracle")?.auc.mean ?? null,
      itemPopAuc: row("itempop")?.auc.mean ?? null,
    }));
}

const auc = (x: number | null) => (x === null || !Number.isFinite(x) ? "–" : x.toFixed(4));

/** What the interval says, in words. */
function outcome(c: SuiteComparison): string {
  if (!c.aucInterval) return "no interval";
  if (c.aucInterval.lo > 0) return "better";
  if (c.aucInterval.hi < 0) return "worse";
  return "not detectable";
}

function summaryTable(all: readonly SuiteComparison[], manifest: SuiteManifest, referenceLabel: string): TextTable {
  const setting = (name: string) => {
    const v = manifest.variants.find((x) => x.name === name)!;
    return Object.entries(v.generator).map(([k, x]) => `${k}=${String(x)}`).join(", ") || "base";
  };
  return {
    title: `Each model against ${referenceLabel} on its variant's data`,
    columns: ["Variant", "Setting", "Model", "Seeds", "AUC", `${referenceLabel} AUC`, "Δ AUC (points) [95% CI]", "Same sign in every seed", "Δ GAUC [95% CI]", "Outcome", "Oracle AUC", "ItemPop AUC"],
    rows: all.map((c) => [
      c.variant,
      setting(c.variant),
      c.label,
      String(c.seeds),
      auc(c.auc),
      auc(c.referenceAuc),
      `${points(c.aucDifference)} ${intervalText(c.aucInterval, points)}`,
      c.sameSign === null ? "–" : c.sameSign ? `yes${c.pValue !== null ? ` (p ${c.pValue.toFixed(3)})` : ""}` : "no",
      `${points(c.gaucDifference)} ${intervalText(c.gaucInterval, points)}`,
      outcome(c),
      auc(c.oracleAuc),
      auc(c.itemPopAuc),
    ]),
    bold: all.map(() => []),
    notes: [
      "Δ: seed mean minus the reference model's, in AUC (GAUC) points (× 100); its interval is the paired per-user bootstrap 95% interval of the test split (1,000 resamples). Outcome: better / worse when the AUC interval excludes 0.",
      "Oracle: AUC of the generator's true probabilities (the ceiling); ItemPop: the item's training CTR (the floor).",
    ],
  };
}

/**
 * A sweep's charts: Δ AUC of every model against the sweep's last field (the one varying fastest),
 * one chart per value of the field before it (or one chart).
 */
function sweepCharts(manifest: SuiteManifest, all: readonly SuiteComparison[], referenceLabel: string): string {
  const first = manifest.sweep.at(-1);
  const second = manifest.sweep.at(-2);
  if (!first) return "";
  const valueOf = (variant: string, field: string) => String(manifest.variants.find((v) => v.name === variant)!.generator[field]);
  const xs = [...new Set(manifest.variants.map((v) => String(v.generator[first])))];
  const groups = second ? [...new Set(manifest.variants.map((v) => String(v.generator[second])))] : [""];
  const models = [...new Map(all.map((c) => [c.model, c.label]))];
  return groups
    .map((g) => {
      const inGroup = all.filter((c) => !second || valueOf(c.variant, second) === g);
      const series: LineSeries[] = models.map(([model, label], i) => {
        const at = (x: string) => inGroup.find((c) => c.model === model && valueOf(c.variant, first) === x);
        return {
          name: label,
          color: SERIES_COLORS[i % SERIES_COLORS.length]!,
          values: xs.map((x) => (at(x)?.aucDifference ?? NaN) * 100),
          lo: xs.map((x) => (at(x)?.aucInterval?.lo ?? NaN) * 100),
          hi: xs.map((x) => (at(x)?.aucInterval?.hi ?? NaN) * 100),
        };
      });
      const title = `AUC − ${referenceLabel}'s (points) against ${first}${second ? `, ${second} = ${g}` : ""}`;
      return lineChart(title, xs, series, (x) => x.toFixed(1), "whiskers: paired per-user bootstrap 95% intervals; the line at 0 is the reference model");
    })
    .join("");
}

/**
 * Reads every variant's report and writes suite.md, suite.json and suite.html into `outDir`. A
 * variant that has not run (or has no report yet) is listed as missing.
 */
export async function writeSuiteReport(manifest: SuiteManifest, outDir: string): Promise<SuiteReport> {
  const all: SuiteComparison[] = [];
  const missing: string[] = [];
  const commits = new Set<string>();
  let referenceLabel = "the reference";
  for (const variant of manifest.variants) {
    const table = await readTable2(variant);
    if (!table) {
      missing.push(variant.name);
      continue;
    }
    referenceLabel = table.rows.find((r) => r.model === table.reference)?.label ?? table.reference;
    all.push(...comparisons(variant.name, table));
    for (const c of (table.header.gitCommits as { value: string }[] | undefined) ?? []) commits.add(c.value);
  }
  const summary = summaryTable(all, manifest, referenceLabel);
  const about = manifest.variants.filter((v) => v.about).map((v) => `- **${v.name}**: ${v.about}`);
  const facts = [
    `- **Suite spec**: ${shownPath(manifest.specFile)}`,
    `- **Variants**: ${manifest.variants.length} (${manifest.variants.length - missing.length} with results${missing.length ? `; missing: ${missing.join(", ")}` : ""})`,
    `- **Git commits**: ${[...commits].join("; ") || "–"}`,
  ];
  const markdown =
    [`# Suite report: ${manifest.name}`, manifest.description ?? "", facts.join("\n"), about.length ? `## What each variant plants\n\n${about.join("\n")}` : "", markdownTable(summary, "##").trimEnd()]
      .filter(Boolean)
      .join("\n\n") + "\n";
  const html = htmlPage(
    `Suite report: ${manifest.name}`,
    [
      manifest.description ? `<p>${escapeXml(manifest.description)}</p>` : "",
      `<ul>${facts.map((f) => `<li>${escapeXml(f.replace(/^- /, "").replace(/\*\*/g, ""))}</li>`).join("")}</ul>`,
      about.length ? section("What each variant plants", `<ul>${manifest.variants.filter((v) => v.about).map((v) => `<li><b>${escapeXml(v.name)}</b>: ${escapeXml(v.about!)}</li>`).join("")}</ul>`) : "",
      section("Against the reference model", tableHtml(summary) + sweepCharts(manifest, all, referenceLabel)),
    ].join("\n"),
  );
  const files = await writeFilesAtomic(outDir, {
    "suite.md": markdown,
    "suite.json": JSON.stringify({ suite: manifest.name, variants: manifest.variants, missing, comparisons: all }, null, 2) + "\n",
    "suite.html": html,
  });
  return { markdown, files, comparisons: all };
}

/** A path as the report shows it: relative to the working directory when inside it (as a run report shows its spec), else as recorded. */
function shownPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith("..") && !isAbsolute(rel) ? rel : file;
}
