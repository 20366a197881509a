import { aucOfSortedRange, isPositive, scoreKeys, sortByScore, type Scores, type SortedScores } from "./auc.ts";
import { perUserAuc } from "./gauc.ts";
import { mulberry32 } from "../util/random.ts";

/**
 * Per-user bootstrap (SPEC §4): a resample draws as many users as the evaluated set has, uniformly
 * with replacement, each with all of their impressions; a user drawn c times counts c times.
 * AUC and GAUC of a resample are computed from counts, not from copied rows: each prediction set
 * is sorted once, and a resample's AUC is one weighted walk over that order (the tie rule and
 * arithmetic of `auc`, with a row weighing its user's count), its GAUC a weighted sum of the
 * users' own AUCs, which resampling does not change. The results equal `auc` and `gauc` on the
 * materialised resample exactly (test). Several prediction sets of the same rows (models, seeds)
 * share every resample, so differences between them are paired.
 */

/** Rows scored by one model: the same rows (users, labels, order) in every set of a bootstrap. */
export interface PredictionSet {
  scores: Scores;
  labels: ArrayLike<number>;
  userKey: Int32Array;
}

/** Per prediction set, the metric of each resample (B values, in resample order). */
export interface BootstrapSamples {
  auc: Float64Array[];
  gauc: Float64Array[];
  /** Distinct users resampled. */
  users: number;
}

/**
 * Draws one resample of `users` users: counts[u] = how often user u (dense index) was drawn.
 * Exactly `users` calls of `uniform`, so that anyone can replay the draws with the same PRNG.
 */
export function drawResample(uniform: () => number, counts: Uint32Array): void {
  const users = counts.length;
  counts.fill(0);
  for (let j = 0; j < users; j++) counts[Math.floor(uniform() * users)]!++;
}

/** Dense user indices 0…U−1 in ascending key order (the order GAUC sums users in), per row. */
export function denseUsers(userKey: Int32Array): { keys: Int32Array; index: Uint32Array } {
  const keys = Int32Array.from(new Set(userKey)).sort();
  const position = new Map<number, number>();
  keys.forEach((k, i) => position.set(k, i));
  return { keys, index: Uint32Array.from(userKey, (k) => position.get(k)!) };
}

/** One prediction set sorted once, ready for any number of weighted resamples. */
class ResampledMetrics {
  /** Tie-group key and (dense user << 1 | label) of the rows, ascending by score. */
  private readonly sorted: SortedScores;
  private readonly hasNaN: boolean;
  /** Per dense user: impressions and own AUC (NaN for one class). */
  private readonly impressions: Uint32Array;
  private readonly userAuc: Float64Array;

  constructor(set: PredictionSet, users: { keys: Int32Array; index: Uint32Array }) {
    const n = set.scores.length;
    const payload = new Uint32Array(n);
    for (let i = 0; i < n; i++) payload[i] = (users.index[i]! << 1) | (isPositive(set.labels[i]!) ? 1 : 0);
    const keys = scoreKeys(set.scores);
    this.hasNaN = keys.hasNaN;
    this.sorted = sortByScore(keys, payload);
    const perUser = perUserAuc(set.scores, set.labels, set.userKey);
    // perUserAuc lists users in ascending key order: the dense order.
    this.impressions = perUser.impressions;
    this.userAuc = perUser.auc;
  }

  /** AUC of the resample with these user counts: NaN without a positive or a negative. */
  auc(counts: Uint32Array): number {
    return this.hasNaN ? NaN : aucOfSortedRange(this.sorted, 0, this.sorted.key.length, counts);
  }

  /** GAUC of the resample: Σ c_u·n_u·AUC_u / Σ c_u·n_u over users with both classes. */
  gauc(counts: Uint32Array): number {
    if (this.hasNaN) return NaN;
    let weighted = 0;
    let impressions = 0;
    for (let u = 0; u < counts.length; u++) {
      const a = this.userAuc[u]!;
      if (Number.isNaN(a)) continue;
      const m = counts[u]! * this.impressions[u]!;
      impressions += m;
      weighted += m * a;
    }
    return impressions === 0 ? NaN : weighted / impressions;
  }
}

/**
 * AUC and GAUC of every prediction set on `resamples` per-user resamples, seeded. Every set must
 * hold the same rows (the same user per row): the sets are then paired resample by resample.
 */
export function bootstrap(sets: readonly PredictionSet[], options: { resamples: number; seed: number }): BootstrapSamples {
  const first = sets[0];
  if (!first) return { auc: [], gauc: [], users: 0 };
  for (const [s, set] of sets.entries()) {
    if (set.userKey.length !== first.userKey.length || set.userKey.some((u, i) => u !== first.userKey[i])) {
      throw new Error(`bootstrap: prediction set ${s} does not hold the same rows as set 0`);
    }
  }
  const users = denseUsers(first.userKey);
  const metrics = sets.map((set) => new ResampledMetrics(set, users));
  const auc = sets.map(() => new Float64Array(options.resamples));
  const gauc = sets.map(() => new Float64Array(options.resamples));
  const uniform = mulberry32(options.seed);
  const counts = new Uint32Array(users.keys.length);
  for (let b = 0; b < options.resamples; b++) {
    drawResample(uniform, counts);
    metrics.forEach((m, s) => {
      auc[s]![b] = m.auc(counts);
      gauc[s]![b] = m.gauc(counts);
    });
  }
  return { auc, gauc, users: users.keys.length };
}

export interface Interval {
  lo: number;
  hi: number;
}

/**
 * The central `level` percentile interval of the finite values (quantiles interpolated linearly
 * between order statistics, numpy's default); null when fewer than half the values are finite.
 */
export function percentileInterval(values: ArrayLike<number>, level = 0.95): Interval | null {
  const finite = Float64Array.from(Array.prototype.filter.call(values, Number.isFinite) as number[]).sort();
  if (finite.length === 0 || finite.length * 2 < values.length) return null;
  const quantile = (q: number) => {
    const h = (finite.length - 1) * q;
    const lo = Math.floor(h);
    const hi = Math.min(lo + 1, finite.length - 1);
    return finite[lo]! + (h - lo) * (finite[hi]! - finite[lo]!);
  };
  const tail = (1 - level) / 2;
  return { lo: quantile(tail), hi: quantile(1 - tail) };
}
