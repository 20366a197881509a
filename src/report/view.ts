/**
 * The tables and the provenance header as text cells, shared by the Markdown and HTML renderers
 * so both show exactly the same numbers.
 */
import type { ReportHeader, Tally } from "./header.ts";
import type { Interval } from "../metrics/bootstrap.ts";
import type { Comparison } from "./stats.ts";
import type { MetricCell, ModelRow, Table2, Table3, Table4 } from "./tables.ts";

export interface TextTable {
  title: string;
  columns: string[];
  rows: string[][];
  /** Per cell: the best value of its column (of its user group in Table 3). */
  bold: boolean[][];
  /** Lines shown under the table. */
  notes: string[];
}

const COMPARISON_LEGEND =
  "✓ / ✗: the per-seed difference has / has not the same sign in every seed (shown from 2 paired seeds); p: two-sided paired t-test over seeds (from 3 seeds).";

export const metricText = (x: number): string => (Number.isFinite(x) ? x.toFixed(4) : "n/a");

const meanStdText = (c: Pick<MetricCell, "mean" | "std">): string => (Number.isFinite(c.mean) ? `${c.mean.toFixed(4)} ± ${c.std.toFixed(4)}` : "n/a");

export const signedPercent = (x: number): string => (Number.isFinite(x) ? `${x > 0 ? "+" : ""}${x.toFixed(2)}%` : "n/a");

function pValueText(p: number): string {
  return p < 0.001 ? "p<0.001" : `p=${p.toFixed(3)}`;
}

/** "+0.87% ✓ p=0.041"; "–" for the baseline row itself or when there is no baseline. */
function comparisonText(c: Comparison | null): string {
  if (!c) return "–";
  const sign = c.seeds.length >= 2 ? (c.sameSign ? " ✓" : " ✗") : "";
  const p = c.pValue === null ? "" : ` ${pValueText(c.pValue)}`;
  return `${signedPercent(c.improvement)}${sign}${p}`;
}

function durationText(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  if (seconds < 3600) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(2)} h`;
}

const signedMetric = (x: number): string => (Number.isFinite(x) ? `${x >= 0 ? "+" : ""}${x.toFixed(4)}` : "n/a");

export function intervalText(i: Interval | null, format: (x: number) => string = metricText): string {
  return i ? `[${format(i.lo)}, ${format(i.hi)}]` : "–";
}

/** "+0.0012 [-0.0003, +0.0030]": seed-mean difference and its paired interval; "–" for the baseline itself. */
function differenceText(c: MetricCell): string {
  if (!c.difference) return "–";
  const interval = c.difference.interval ? ` ${intervalText(c.difference.interval, signedMetric)}` : "";
  return `${signedMetric(c.difference.value)}${interval}`;
}

const percentText = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(0)}%` : "n/a");

export function table2View(t: Table2): TextTable {
  const models = t.rows.filter((r) => r.category !== "reference");
  const best = [bestOf(models, "auc"), bestOf(models, "gauc")];
  const level = t.bootstrap ? `${Math.round(t.bootstrap.level * 100)}%` : "95%";
  const gap = t.gapClosed;
  return {
    title: "Table 2: AUC and GAUC of every model on the target test split",
    columns: [
      "Category",
      "Model",
      "Seeds",
      "AUC",
      `AUC ${level} CI`,
      `Δ AUC vs ${t.referenceLabel}`,
      "GAUC",
      `GAUC ${level} CI`,
      `Δ GAUC vs ${t.referenceLabel}`,
      ...(gap ? ["Gap closed (AUC / GAUC)"] : []),
    ],
    rows: t.rows.map((r, i) => [
      i === 0 || t.rows[i - 1]!.category !== r.category ? r.category : "",
      r.label,
      String(r.seeds.length),
      meanStdText(r.auc),
      intervalText(r.auc.interval),
      differenceText(r.auc),
      meanStdText(r.gauc),
      intervalText(r.gauc.interval),
      differenceText(r.gauc),
      ...(gap ? [`${percentText(gap[i]!.auc)} / ${percentText(gap[i]!.gauc)}`] : []),
    ]),
    bold: t.rows.map((r) => [false, false, false, best[0]!.has(r), false, false, best[1]!.has(r), false, false, ...(gap ? [false] : [])]),
    notes: [
      ...(t.rows.length > 0 ? ["AUC, GAUC: mean ± sample std over seeds (std 0 for one seed); best mean per column in bold (the reference rows excluded)."] : []),
      ...(t.rows.length > 0 ? [intervalNote(t, level)] : []),
      ...referenceNotes(t),
      ...absentNote(t.absent),
    ],
  };
}

function intervalNote(t: Table2, level: string): string {
  const b = t.bootstrap;
  if (!b) return "No bootstrap intervals (turned off, or no readable predictions.csv).";
  const left = b.problems.length > 0 ? ` Left out of the bootstrap: ${b.problems.join("; ")}.` : "";
  const delta = t.referencePresent
    ? ` Δ: seed mean minus ${t.referenceLabel}'s, interval from the same resamples (paired).`
    : ` The reference model ${t.referenceLabel} (${t.reference}) has no results in this run: no Δ shown.`;
  return `${level} CI: percentile interval of the seed mean over ${b.resamples} resamples of the ${b.users} test users with all their impressions (per-user bootstrap, seed ${b.seed}).${delta}${left}`;
}

function referenceNotes(t: Table2): string[] {
  const has = (model: string) => t.rows.some((r) => r.model === model);
  const notes: string[] = [];
  if (has("itempop")) notes.push("ItemPop (floor): the item's click-through rate in the target training split (overall CTR for an item never shown there).");
  if (has("oracle")) notes.push("Oracle (ceiling): the generator's true click probability of each impression, the best any model can do on this data.");
  else notes.push("No Oracle row: the data has no true click probabilities (only generated data has them).");
  if (t.gapClosed) notes.push("Gap closed: (m − ItemPop) / (Oracle − ItemPop) of the seed means, the share of the achievable gain a model realises.");
  return notes;
}

export function table3View(t: Table3): TextTable {
  const rows = t.rows;
  const bestIn = (key: "auc" | "gauc") => new Set(t.groups.flatMap(({ group }) => [...bestOf(rows.filter((r) => r.group === group), key)]));
  const best = [bestIn("auc"), bestIn("gauc")];
  return {
    title: `Table 3: AUC and GAUC per user group, improvement vs ${t.referenceLabel}`,
    columns: ["User group", "Model", "Seeds", "AUC", "Improv.", "GAUC", "Improv."],
    rows: rows.map((r, i) => [
      i === 0 || rows[i - 1]!.group !== r.group ? r.group : "",
      r.label,
      String(r.seeds.length),
      meanStdText(r.auc),
      comparisonText(r.auc.comparison),
      meanStdText(r.gauc),
      comparisonText(r.gauc.comparison),
    ]),
    bold: rows.map((r) => [false, false, false, best[0]!.has(r), false, best[1]!.has(r), false]),
    notes: [
      t.referencePresent
        ? `Improv.: (m − m_ref) / m_ref of the means, m_ref = ${t.referenceLabel}. ${COMPARISON_LEGEND}`
        : `The reference model ${t.referenceLabel} (${t.reference}) has no results in this run: no improvements shown.`,
      ...(rows.length > 0
        ? [
            `User groups by training-split clicks; test split sizes: ${t.groups.map((g) => `${g.group}: ${g.users} users, ${g.samples} impressions, ${g.positives} clicks`).join("; ")}.`,
            "Best mean per group and column in bold.",
          ]
        : []),
    ],
  };
}

export function table4View(t: Table4): TextTable {
  const best = [bestOf(t.rows, "auc"), bestOf(t.rows, "gauc")];
  const notes =
    t.ablationsInSpec === 0
      ? ["This run's spec has no ablations."]
      : [
          t.fullPresent
            ? `Change: (m − m_full) / m_full of the means, vs full MKT. ${COMPARISON_LEGEND}`
            : "Full MKT has no results in this run: no changes shown.",
          ...absentNote(t.absent),
        ];
  return {
    title: "Table 4: MKT ablations, change vs full MKT",
    columns: ["Ablation", "Seeds", "AUC", "Change", "GAUC", "Change"],
    rows: t.rows.map((r) => [r.label, String(r.seeds.length), meanStdText(r.auc), comparisonText(r.auc.comparison), meanStdText(r.gauc), comparisonText(r.gauc.comparison)]),
    bold: t.rows.map((r) => [false, false, best[0]!.has(r), false, best[1]!.has(r), false]),
    notes,
  };
}

/** Label/value lines of the provenance header. */
export function headerFacts(h: ReportHeader): [string, string][] {
  const facts: [string, string][] = [
    ["Experiment", h.description ? `${h.experiment}: ${h.description}` : h.experiment],
    ["Spec", `${h.specFile} (sha256 ${h.specHash})`],
    ["Dataset", `${h.dataset} (fingerprint ${h.datasetFingerprint})`],
    ["Seeds", h.seeds.join(", ")],
    ["Results", `${h.results} complete, ${h.missing.length} missing`],
    ["Reference model", h.referenceModel],
    ["Backend", tallyText(h.backends, h.results)],
    ["Package versions", tallyText(h.versions, h.results)],
    ["Git commit", tallyText(h.gitCommits, h.results)],
    ["Machine", tallyText(h.machines, h.results)],
  ];
  if (h.sizeNote) facts.push(["Size note", h.sizeNote]);
  return facts;
}

/** Wall time and epochs per model and stage: Model | Stage | Wall time (Σ seeds) | Epochs run (per seed) | Resumed (seeds). */
export function timingView(h: ReportHeader): TextTable {
  const rows = h.timing.flatMap((m) => [
    ...m.stages.map((s) => [m.model, s.stage, durationText(s.seconds), s.epochsRun.join(", "), s.resumedSeeds.join(", ")]),
    [m.model, "evaluation", durationText(m.evaluationSeconds), "", ""],
    [m.model, "total", durationText(m.totalSeconds), "", ""],
  ]);
  return {
    title: "Wall time per model and stage",
    columns: ["Model", "Stage", "Wall time (Σ seeds)", "Epochs run (per seed)", "Resumed (seeds)"],
    rows,
    bold: rows.map((r) => r.map(() => false)),
    notes: rows.length > 0 ? ["A resumed stage was loaded from its checkpoint and counts 0 s here."] : [],
  };
}

/** Lines for results that are missing or disagree with experiment.json: nothing is silently dropped. */
export function problemLines(h: ReportHeader): string[] {
  return [...h.missing.map((m) => `Missing: ${m.model} seed ${m.seed}: ${m.reason}`), ...h.warnings.map((w) => `Warning: ${w}`)];
}

/** Distinct values; a value not shared by every result says how many carry it. */
function tallyText(tallies: readonly Tally[], total: number): string {
  if (tallies.length === 0) return "n/a (no results)";
  return tallies.map((t) => (t.results === total ? t.value : `${t.value} (${t.results} of ${total} results)`)).join("; ");
}

function absentNote(absent: readonly string[]): string[] {
  return absent.length > 0 ? [`No results yet for: ${absent.join(", ")}.`] : [];
}

/** Rows holding the highest finite mean of a metric (all of them on a tie). */
function bestOf(rows: readonly ModelRow[], key: "auc" | "gauc"): Set<ModelRow> {
  const finite = rows.filter((r) => Number.isFinite(r[key].mean));
  const top = Math.max(...finite.map((r) => r[key].mean));
  return new Set(finite.filter((r) => r[key].mean === top));
}
