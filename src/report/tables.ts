/**
 * The data of the paper's Tables 2–4, computed from a collected run: per-seed values, mean ± std
 * over seeds, and comparisons (relative improvement, paired over seeds) against the reference
 * model (Tables 2, 3) or full MKT (Table 4). Rendering lives in markdown.ts, csv.ts and html.ts.
 */
import type { Interval } from "../metrics/bootstrap.ts";
import { itemPopRecipe, oracleRecipe } from "../models/baselines/references.ts";
import { ABLATION_LABELS, ABLATION_NAMES, mktRecipeName } from "../models/mkt/ablations.ts";
import type { ModelCategory } from "../models/recipe.ts";
import { recipeFor, table2Order } from "../models/registry.ts";
import type { ModelResult } from "../run/result.ts";
import { resultsByModel, type CollectedRun } from "./collect.ts";
import { differenceInterval, metricInterval, type RunBootstrap } from "./intervals.ts";
import { compare, summarize, type Comparison, type SeedValue } from "./stats.ts";
import { buildVerdict, type Verdict } from "./verdict.ts";

const FULL_MKT_LABEL = "Full MKT";

/** The spec's models in Table 2's order (by category, then registry order: the paper's). */
function table2Models(models: readonly string[]): { name: string; label: string }[] {
  return table2Order().filter((m) => models.includes(m.name));
}

const labelOf = (model: string): string => recipeFor(model).label;

export interface MetricCell {
  perSeed: SeedValue[];
  mean: number;
  std: number;
  /** Against the table's baseline (reference model or full MKT); null for the baseline itself or when it is missing. */
  comparison: Comparison | null;
  /** Per-user bootstrap interval of the seed mean (Table 2); null without predictions. */
  interval: Interval | null;
  /** Seed mean minus the baseline's, with its paired bootstrap interval (Table 2); null where comparison is. */
  difference: { value: number; interval: Interval | null } | null;
}

export interface ModelRow {
  /** Model name or, in Table 4, the ablation's directory name (`mkt-wo_pdl`). */
  model: string;
  label: string;
  category: ModelCategory;
  seeds: number[];
  auc: MetricCell;
  gauc: MetricCell;
}

export interface Table2 {
  reference: string;
  referenceLabel: string;
  referencePresent: boolean;
  /** ItemPop first and the Oracle last (category "reference", where they have results), the models between. */
  rows: ModelRow[];
  /** Models of the spec without a single result. */
  absent: string[];
  /**
   * Per row, the share of the gap from ItemPop to the Oracle its seed mean closes, in % (0: no better
   * than item popularity, 100: the true probabilities); null without both references.
   */
  gapClosed: { auc: number; gauc: number }[] | null;
  /** The bootstrap behind the intervals; null when it was off or no predictions were readable. */
  bootstrap: { resamples: number; seed: number; level: number; users: number; problems: string[] } | null;
  verdict: Verdict;
}

export interface GroupInfo {
  group: string;
  /** Test impressions, positives and distinct users of the group (the same for every model). */
  samples: number;
  positives: number;
  users: number;
}

export interface Table3 {
  reference: string;
  referenceLabel: string;
  referencePresent: boolean;
  groups: GroupInfo[];
  /** Per group: the reference first, then the other models in Table 2 order. */
  rows: (ModelRow & { group: string })[];
}

export interface Table4 {
  full: string;
  fullPresent: boolean;
  /** Ablations in the spec; 0 means the run has no Table 4. */
  ablationsInSpec: number;
  /** The ablations in the paper's order, then full MKT. */
  rows: ModelRow[];
  absent: string[];
}

export interface Tables {
  table2: Table2;
  table3: Table3;
  table4: Table4;
}

/** Reads one metric off a result. */
type Metric = (r: ModelResult) => number;

/** `bootstrap`: the run's per-user bootstrap (intervals in Table 2), null for none. */
export function buildTables(run: CollectedRun, bootstrap: RunBootstrap | null = null): Tables {
  const byModel = resultsByModel(run.results);
  return { table2: buildTable2(run, byModel, bootstrap), table3: buildTable3(run, byModel), table4: buildTable4(run, byModel) };
}

function buildTable2(run: CollectedRun, byModel: Map<string, ModelResult[]>, bootstrap: RunBootstrap | null): Table2 {
  const { spec } = run.experiment;
  const referenceName = spec.reference_model;
  const reference = byModel.get(referenceName);
  const models = table2Models(spec.models);
  // ItemPop (the floor) first and the Oracle (the ceiling) last, both of category "reference".
  const variants = [itemPopRecipe, ...models, oracleRecipe];
  const rows = variants.flatMap(({ name, label }) => {
    const runs = byModel.get(name);
    if (!runs) return [];
    const r = row(name, label, runs, reference, name === referenceName, (x) => x.metrics.auc, (x) => x.metrics.gauc);
    for (const metric of ["auc", "gauc"] as const) {
      r[metric].interval = metricInterval(bootstrap, name, metric);
      if (r[metric].comparison) {
        const value = r[metric].mean - summarize(reference!.map((x) => ({ seed: x.seed, value: x.metrics[metric] }))).mean;
        r[metric].difference = { value, interval: differenceInterval(bootstrap, name, referenceName, metric) };
      }
    }
    return [r];
  });
  const floor = rows.find((r) => r.model === itemPopRecipe.name);
  const ceiling = rows.find((r) => r.model === oracleRecipe.name);
  const gap = (r: ModelRow, metric: "auc" | "gauc") => ((r[metric].mean - floor![metric].mean) / (ceiling![metric].mean - floor![metric].mean)) * 100;
  return {
    reference: referenceName,
    referenceLabel: labelOf(referenceName),
    referencePresent: reference !== undefined,
    rows,
    absent: models.filter((m) => !byModel.has(m.name)).map((m) => m.name),
    gapClosed: floor && ceiling ? rows.map((r) => ({ auc: gap(r, "auc"), gauc: gap(r, "gauc") })) : null,
    bootstrap: bootstrap && { ...bootstrap.settings, level: bootstrap.level, users: bootstrap.users, problems: bootstrap.problems },
    verdict: buildVerdict(rows, bootstrap),
  };
}

function buildTable3(run: CollectedRun, byModel: Map<string, ModelResult[]>): Table3 {
  const { spec } = run.experiment;
  const referenceName = spec.reference_model;
  const reference = byModel.get(referenceName);
  const ordered = table2Models(spec.models)
    .map((m) => m.name)
    .filter((m) => byModel.has(m));
  const models = [...ordered.filter((m) => m === referenceName), ...ordered.filter((m) => m !== referenceName)];
  const groups = groupInfos(models.flatMap((m) => byModel.get(m) ?? []));
  const groupMetric = (group: string, key: "auc" | "gauc"): Metric => (r) => r.metrics.groups.find((g) => g.group === group)?.[key] ?? NaN;
  return {
    reference: referenceName,
    referenceLabel: labelOf(referenceName),
    referencePresent: reference !== undefined,
    groups,
    rows: groups.flatMap(({ group }) =>
      models.map((m) => ({
        group,
        ...row(m, labelOf(m), byModel.get(m)!, reference, m === referenceName, groupMetric(group, "auc"), groupMetric(group, "gauc")),
      })),
    ),
  };
}

function buildTable4(run: CollectedRun, byModel: Map<string, ModelResult[]>): Table4 {
  const { spec } = run.experiment;
  const fullName = mktRecipeName();
  const full = byModel.get(fullName);
  const variants = ABLATION_NAMES.filter((a) => spec.ablations.includes(a)).map((a) => ({ name: mktRecipeName(a), label: ABLATION_LABELS[a] }));
  // Full MKT is the baseline of Table 4 only when there are ablations to compare with it.
  if (variants.length > 0) variants.push({ name: fullName, label: FULL_MKT_LABEL });
  return {
    full: fullName,
    fullPresent: full !== undefined,
    ablationsInSpec: spec.ablations.length,
    rows: variants.flatMap((v) => {
      const runs = byModel.get(v.name);
      return runs ? [row(v.name, v.label, runs, full, v.name === fullName, (r) => r.metrics.auc, (r) => r.metrics.gauc)] : [];
    }),
    absent: variants.filter((v) => !byModel.has(v.name)).map((v) => v.name),
  };
}

function row(
  model: string,
  label: string,
  runs: readonly ModelResult[],
  baseline: readonly ModelResult[] | undefined,
  isBaseline: boolean,
  auc: Metric,
  gauc: Metric,
): ModelRow {
  const against = isBaseline ? undefined : baseline;
  return {
    model,
    label,
    category: runs[0]!.category,
    seeds: runs.map((r) => r.seed),
    auc: cell(runs, against, auc),
    gauc: cell(runs, against, gauc),
  };
}

function cell(runs: readonly ModelResult[], baseline: readonly ModelResult[] | undefined, pick: Metric): MetricCell {
  const summary = summarize(runs.map((r) => ({ seed: r.seed, value: pick(r) })));
  const comparison = baseline ? compare(summary, summarize(baseline.map((r) => ({ seed: r.seed, value: pick(r) })))) : null;
  return { ...summary, comparison, interval: null, difference: null };
}

/** The user groups in the order the results list them, with their sizes from the first result that has them. */
function groupInfos(results: readonly ModelResult[]): GroupInfo[] {
  const groups = new Map<string, GroupInfo>();
  for (const r of results) {
    for (const g of r.metrics.groups) {
      if (!groups.has(g.group)) groups.set(g.group, { group: g.group, samples: g.samples, positives: g.positives, users: g.users });
    }
  }
  return [...groups.values()];
}
