import { describe, expect, it } from "vitest";
import { auc } from "../src/metrics/auc.ts";
import { bootstrap, percentileInterval } from "../src/metrics/bootstrap.ts";
import { gauc } from "../src/metrics/gauc.ts";
import { mulberry32 } from "../src/util/random.ts";

/**
 * Tiny prediction sets: 14 users with 1–9 impressions each (some with one class only), scores
 * rounded to 0.05 so that ties occur within and across users; user keys sparse and unsorted.
 */
function tinyData(seed: number): { userKey: Int32Array; labels: Float32Array; scores: Float32Array[] } {
  const uniform = mulberry32(seed);
  const userKey: number[] = [];
  const labels: number[] = [];
  for (let u = 0; u < 14; u++) {
    const key = 3 + ((u * 5) % 14) * 4; // sparse, not in row order
    const rows = 1 + Math.floor(uniform() * 9);
    for (let r = 0; r < rows; r++) {
      userKey.push(key);
      labels.push(u % 5 === 0 ? 0 : uniform() < 0.35 ? 1 : 0);
    }
  }
  const scores = [0, 1].map(() => Float32Array.from(labels, (y) => Math.round((0.3 * y + 0.7 * uniform()) * 20) / 20));
  return { userKey: Int32Array.from(userKey), labels: Float32Array.from(labels), scores };
}

/** Each tail of a 95% interval. */
const TAIL = (1 - 0.95) / 2;

/** Type-7 quantile of sorted values, written out independently of percentileInterval. */
function quantile(sorted: number[], q: number): number {
  const h = (sorted.length - 1) * q;
  const i = Math.floor(h);
  return sorted[i]! + (h - i) * (sorted[Math.min(i + 1, sorted.length - 1)]! - sorted[i]!);
}

describe("per-user bootstrap", () => {
  it("equals AUC and GAUC of the materialised resamples exactly (same PRNG, brute force)", () => {
    const data = tinyData(3);
    const resamples = 60;
    const seed = 11;
    const fast = bootstrap(
      data.scores.map((scores) => ({ scores, labels: data.labels, userKey: data.userKey })),
      { resamples, seed },
    );
    // Brute force: draw users with the same PRNG, copy each drawn user's rows, compute the metrics.
    const users = [...new Set(data.userKey)].sort((a, b) => a - b);
    expect(fast.users).toBe(users.length);
    const uniform = mulberry32(seed);
    for (let b = 0; b < resamples; b++) {
      const drawn = users.map(() => users[Math.floor(uniform() * users.length)]!);
      const rows = drawn.flatMap((u) => [...data.userKey.keys()].filter((i) => data.userKey[i] === u));
      data.scores.forEach((scores, s) => {
        const pick = <T extends Float32Array | Int32Array>(a: T, make: (n: number) => T) => {
          const out = make(rows.length);
          rows.forEach((i, k) => (out[k] = a[i]!));
          return out;
        };
        const sc = pick(scores, (n) => new Float32Array(n));
        const y = pick(data.labels, (n) => new Float32Array(n));
        const u = pick(data.userKey, (n) => new Int32Array(n));
        expect(fast.auc[s]![b]).toBe(auc(sc, y));
        expect(fast.gauc[s]![b]).toBe(gauc(sc, y, u).gauc);
      });
    }
    // Resamples differ from one another and from the full set (the draws are real).
    expect(new Set(fast.auc[0]).size).toBeGreaterThan(resamples / 2);
    // Percentile intervals of the brute-force values, and of the paired difference.
    for (const s of [0, 1]) {
      const sorted = [...fast.auc[s]!].filter(Number.isFinite).sort((a, b) => a - b);
      expect(percentileInterval(fast.auc[s]!)).toEqual({ lo: quantile(sorted, TAIL), hi: quantile(sorted, 1 - TAIL) });
    }
    const diff = fast.auc[1]!.map((x, b) => x - fast.auc[0]![b]!);
    const sortedDiff = [...diff].filter(Number.isFinite).sort((a, b) => a - b);
    expect(percentileInterval(diff)).toEqual({ lo: quantile(sortedDiff, TAIL), hi: quantile(sortedDiff, 1 - TAIL) });
  });

  it("is seeded: the same seed gives the same resamples, another seed others", () => {
    const data = tinyData(5);
    const sets = [{ scores: data.scores[0]!, labels: data.labels, userKey: data.userKey }];
    const a = bootstrap(sets, { resamples: 20, seed: 1 });
    expect(bootstrap(sets, { resamples: 20, seed: 1 }).auc[0]).toEqual(a.auc[0]);
    expect(bootstrap(sets, { resamples: 20, seed: 2 }).auc[0]).not.toEqual(a.auc[0]);
  });

  it("pairs only prediction sets of the same rows", () => {
    const data = tinyData(7);
    const other = Int32Array.from(data.userKey, (u, i) => (i === 0 ? u + 1 : u));
    expect(() =>
      bootstrap(
        [
          { scores: data.scores[0]!, labels: data.labels, userKey: data.userKey },
          { scores: data.scores[1]!, labels: data.labels, userKey: other },
        ],
        { resamples: 5, seed: 1 },
      ),
    ).toThrow(/does not hold the same rows/);
  });
});

describe("percentileInterval", () => {
  it("interpolates between order statistics (numpy's default) and skips non-finite values", () => {
    const values = Array.from({ length: 101 }, (_, i) => 100 - i); // 0…100, unsorted
    const close = (i: { lo: number; hi: number } | null, lo: number, hi: number) => {
      expect(i!.lo).toBeCloseTo(lo, 12);
      expect(i!.hi).toBeCloseTo(hi, 12);
    };
    close(percentileInterval(values), 2.5, 97.5);
    close(percentileInterval([...values, NaN, Infinity]), 2.5, 97.5);
    close(percentileInterval([1, 2, 3, 4], 0.5), 1.75, 3.25);
  });

  it("gives no interval when most resamples are undefined", () => {
    expect(percentileInterval([NaN, NaN, 0.5])).toBeNull();
    expect(percentileInterval([])).toBeNull();
  });
});
