/**
 * The per-user bootstrap of a run (SPEC §4): every result's predictions.csv (the target test split,
 * the same rows in the same order for every model) goes through the same resamples, so that each
 * model's interval and every difference between two models come from paired resamples.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { bootstrap, percentileInterval, type Interval, type PredictionSet } from "../metrics/bootstrap.ts";
import { modelDir } from "../run/model-run.ts";
import { PREDICTIONS_HEADER } from "../train/evaluate.ts";
import type { ModelResult } from "../run/result.ts";
import type { BootstrapSettings } from "./bootstrap-settings.ts";
import type { CollectedRun } from "./collect.ts";

/** Confidence level of every interval. */
export const LEVEL = 0.95;

/** Per model (directory name): per resample, the mean over the model's seeds of its AUC and GAUC. */
export interface ModelResamples {
  auc: Float64Array;
  gauc: Float64Array;
}

export interface RunBootstrap {
  settings: BootstrapSettings;
  level: number;
  /** Users of the target test split (what a resample draws). */
  users: number;
  byModel: Map<string, ModelResamples>;
  /** Results left out of the bootstrap, and why. */
  problems: string[];
}

type Metric = keyof ModelResamples;

/** The interval of one model's seed mean. */
export function metricInterval(b: RunBootstrap | null, model: string, metric: Metric): Interval | null {
  const m = b?.byModel.get(model);
  return m ? percentileInterval(m[metric], b!.level) : null;
}

/** The paired interval of (model − baseline), seed means. */
export function differenceInterval(b: RunBootstrap | null, model: string, baseline: string, metric: Metric): Interval | null {
  const m = b?.byModel.get(model);
  const base = b?.byModel.get(baseline);
  if (!m || !base) return null;
  const diff = m[metric].map((x, i) => x - base[metric][i]!);
  return percentileInterval(diff, b!.level);
}

/**
 * Runs the bootstrap over every complete result of the run whose predictions.csv holds the same
 * rows as the first one read; null when intervals are off or no predictions could be read.
 */
export async function bootstrapRun(run: CollectedRun, settings: BootstrapSettings): Promise<RunBootstrap | null> {
  if (settings.resamples <= 0) return null;
  const problems: string[] = [];
  const read: { result: ModelResult; set: PredictionSet }[] = [];
  for (const result of run.results) {
    const file = join(modelDir(run.runDir, result.model, result.seed), "predictions.csv");
    const set = await readPredictions(file);
    if (typeof set === "string") {
      problems.push(`${result.model} seed ${result.seed}: ${set}`);
      continue;
    }
    const first = read[0];
    if (first && !sameRows(first.set, set)) {
      problems.push(`${result.model} seed ${result.seed}: predictions.csv holds other rows than ${first.result.model} seed ${first.result.seed}'s`);
      continue;
    }
    read.push({ result, set });
  }
  if (read.length === 0) return null;
  const samples = bootstrap(read.map((r) => r.set), settings);
  const byModel = new Map<string, ModelResamples>();
  const seedsOf = new Map<string, number[]>();
  read.forEach((r, i) => seedsOf.set(r.result.model, [...(seedsOf.get(r.result.model) ?? []), i]));
  for (const [model, indices] of seedsOf) {
    const mean = (arrays: Float64Array[]) => arrays[indices[0]!]!.map((_, b) => indices.reduce((s, i) => s + arrays[i]![b]!, 0) / indices.length);
    byModel.set(model, { auc: mean(samples.auc), gauc: mean(samples.gauc) });
  }
  return { settings, level: LEVEL, users: samples.users, byModel, problems };
}

/** predictions.csv (user_key,label,score,user_group) as a prediction set, or why it cannot be read. */
async function readPredictions(file: string): Promise<PredictionSet | string> {
  const text = await readFile(file, "utf8").catch(() => undefined);
  if (text === undefined) return "no predictions.csv";
  const lines = text.split("\n");
  if (lines[0] !== PREDICTIONS_HEADER) return `predictions.csv does not start with '${PREDICTIONS_HEADER}'`;
  while (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
  const n = lines.length - 1;
  const set = { scores: new Float64Array(n), labels: new Float64Array(n), userKey: new Int32Array(n) };
  for (let i = 0; i < n; i++) {
    const [user, label, score] = lines[i + 1]!.split(",", 3);
    const u = Number(user);
    const y = Number(label);
    const s = Number(score);
    if (!Number.isInteger(u) || u < 0 || (y !== 0 && y !== 1) || score === undefined || score === "") {
      return `predictions.csv line ${i + 2} is not 'user_key,label,score,user_group'`;
    }
    set.userKey[i] = u;
    set.labels[i] = y;
    set.scores[i] = s;
  }
  return set;
}

function sameRows(a: PredictionSet, b: PredictionSet): boolean {
  if (a.userKey.length !== b.userKey.length) return false;
  for (let i = 0; i < a.userKey.length; i++) if (a.userKey[i] !== b.userKey[i] || a.labels[i] !== b.labels[i]) return false;
  return true;
}
