import { describe, expect, it } from "vitest";
import { auc } from "../src/metrics/auc.ts";
import { gauc } from "../src/metrics/gauc.ts";
import { DEFAULT_THRESHOLDS, evaluateGroups, groupIndex, groupLabels, groupOf } from "../src/metrics/groups.ts";
import { evaluate } from "../src/metrics/index.ts";
import { LOGLOSS_EPS, logloss } from "../src/metrics/logloss.ts";
import { mulberry32 } from "../src/util/random.ts";


/** Pairwise definition, O(P·N): a positive beating a negative scores 1, a tie 1/2. */
function bruteAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  let wins = 0;
  let pairs = 0;
  for (let i = 0; i < scores.length; i++) {
    if (labels[i] !== 1) continue;
    for (let j = 0; j < scores.length; j++) {
      if (labels[j] !== 0) continue;
      pairs++;
      if (scores[i]! > scores[j]!) wins += 1;
      else if (scores[i] === scores[j]) wins += 0.5;
    }
  }
  return pairs === 0 ? NaN : wins / pairs;
}

/** Eq. 17 straight from the definition, grouping with a Map. */
function bruteGauc(scores: ArrayLike<number>, labels: ArrayLike<number>, users: ArrayLike<number>) {
  const rows = new Map<number, number[]>();
  for (let i = 0; i < scores.length; i++) {
    const list = rows.get(users[i]!) ?? [];
    list.push(i);
    rows.set(users[i]!, list);
  }
  let num = 0;
  let den = 0;
  let counted = 0;
  for (const idx of rows.values()) {
    const a = bruteAuc(
      idx.map((i) => scores[i]!),
      idx.map((i) => labels[i]!),
    );
    if (Number.isNaN(a)) continue;
    counted++;
    num += idx.length * a;
    den += idx.length;
  }
  return { gauc: den === 0 ? NaN : num / den, usersCounted: counted, impressionsCounted: den, usersTotal: rows.size };
}

interface Data {
  scores: Float32Array | Float64Array;
  labels: Uint8Array;
  users: Int32Array;
}

/**
 * Random rows with many ties (scores rounded to 1 decimal) whose label leans on the score.
 * Every 5th user is forced all-positive, every 7th all-negative (single-class users).
 * User keys are spread by `keyStride` to exercise large, sparse keys.
 */
function makeData(seed: number, n: number, nUsers: number, f64: boolean, keyStride = 1): Data {
  const rand = mulberry32(seed);
  const scores = f64 ? new Float64Array(n) : new Float32Array(n);
  const labels = new Uint8Array(n);
  const users = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const s = Math.round(rand() * 10) / 10;
    scores[i] = s;
    const u = Math.floor(rand() * nUsers);
    users[i] = u * keyStride;
    if (u % 5 === 0) labels[i] = 1;
    else if (u % 7 === 0) labels[i] = 0;
    else labels[i] = rand() < 0.2 + 0.5 * s ? 1 : 0;
  }
  return { scores, labels, users };
}

describe("auc", () => {
  it.each([
    [1, 200, false],
    [2, 1000, false],
    [3, 1500, true],
    [4, 2500, true],
  ])("matches the pairwise definition with many ties (seed %i, n %i, float64 %s)", (seed, n, f64) => {
    const d = makeData(seed, n, 50, f64);
    const expected = bruteAuc(d.scores, d.labels);
    expect(Number.isNaN(expected)).toBe(false);
    expect(auc(d.scores, d.labels)).toBeCloseTo(expected, 12);
  });

  it("matches the pairwise definition on signed scores over many magnitudes (all radix passes, 64-bit keys)", () => {
    const rand = mulberry32(11);
    const n = 1500;
    const s64 = new Float64Array(n);
    const labels = new Uint8Array(n);
    const pool = [0, -0, Infinity, -Infinity, 1e-300, -1e-300, 5e-324, 1e300, -1e300];
    for (let i = 0; i < n; i++) {
      // Mix of heavy ties (a small pool) and values spread across exponents and signs.
      s64[i] = rand() < 0.3 ? pool[Math.floor(rand() * pool.length)]! : (rand() - 0.5) * 10 ** Math.floor(rand() * 40 - 20);
      labels[i] = rand() < 0.5 ? 1 : 0;
    }
    expect(auc(s64, labels)).toBeCloseTo(bruteAuc(s64, labels), 12);
    const s32 = new Float32Array(s64); // rounds: new ties, and the 32-bit key path
    expect(auc(s32, labels)).toBeCloseTo(bruteAuc(s32, labels), 12);
    // A Float64Array holding float32 values takes the 32-bit path and must agree.
    expect(auc(new Float64Array(s32), labels)).toBe(auc(s32, labels));
  });

  it("orders float64 scores that differ only in their low 32 bits (short and long runs)", () => {
    const rand = mulberry32(12);
    const n = 2000;
    const scores = new Float64Array(n);
    const labels = new Uint8Array(n);
    const users = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const r = rand();
      const k = Math.floor(rand() * 300); // offsets of k·2^-50 keep the top 32 bits of ±0.75
      if (r < 0.4) scores[i] = 0.75 + k * 2 ** -50; // one long run of equal high words
      else if (r < 0.55) scores[i] = -0.75 - k * 2 ** -50; // a long negative run
      else scores[i] = Math.floor(rand() * 60) / 64 + (k % 4) * 2 ** -50; // many short runs
      const rank = scores[i]! > 0 ? scores[i]! : 1 + scores[i]!;
      labels[i] = rand() < rank ? 1 : 0;
      users[i] = Math.floor(rand() * 20);
    }
    expect(new Set(Array.from(scores, Math.fround)).size).toBeLessThan(new Set(scores).size);
    expect(auc(scores, labels)).toBeCloseTo(bruteAuc(scores, labels), 12);
    const expected = bruteGauc(scores, labels, users);
    const got = gauc(scores, labels, users);
    expect(got.gauc).toBeCloseTo(expected.gauc, 12);
    expect(got.usersCounted).toBe(expected.usersCounted);
  });

  it("is 0.5 when all scores are equal", () => {
    const scores = new Float32Array(100).fill(0.3);
    const labels = Uint8Array.from({ length: 100 }, (_, i) => (i % 3 === 0 ? 1 : 0));
    expect(auc(scores, labels)).toBe(0.5);
  });

  it("ties -0 with +0", () => {
    expect(auc(new Float64Array([-0, 0]), [1, 0])).toBe(0.5);
    expect(auc(new Float32Array([0, -0]), [1, 0])).toBe(0.5);
  });

  it("is 1 for a perfect ranking and 0 for a reversed one", () => {
    const scores = new Float32Array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9]);
    expect(auc(scores, [0, 0, 0, 1, 1, 1])).toBe(1);
    expect(auc(scores, [1, 1, 1, 0, 0, 0])).toBe(0);
    expect(auc(new Float64Array([-3, -2, 5, 9]), [0, 0, 1, 1])).toBe(1);
  });

  it("counts a tie across classes as 1/2", () => {
    // pairs (pos, neg): (0.5,0.1)=1, (0.5,0.5)=½, (0.9,0.1)=1, (0.9,0.5)=1 → 3.5/4
    expect(auc(new Float32Array([0.1, 0.5, 0.5, 0.9]), [0, 0, 1, 1])).toBe(0.875);
  });

  it("is NaN without positives, without negatives, on empty input, or with a NaN score", () => {
    expect(auc(new Float32Array([0.1, 0.2]), [0, 0])).toBeNaN();
    expect(auc(new Float32Array([0.1, 0.2]), [1, 1])).toBeNaN();
    expect(auc(new Float32Array(0), [])).toBeNaN();
    expect(auc(new Float32Array([0.1, NaN, 0.3]), [0, 1, 1])).toBeNaN();
    expect(auc(new Float64Array([0.1, NaN, 0.3]), [0, 1, 1])).toBeNaN();
  });

  it("rejects mismatched lengths", () => {
    expect(() => auc(new Float32Array(3), [0, 1])).toThrow(/3 scores but 2 labels/);
  });

  it("does not modify its inputs", () => {
    const d = makeData(5, 300, 10, false);
    const before = Float32Array.from(d.scores);
    auc(d.scores, d.labels);
    gauc(d.scores, d.labels, d.users);
    expect(Array.from(d.scores)).toEqual(Array.from(before));
  });
});

describe("gauc", () => {
  it.each([
    [21, 800, 30, false, 1],
    [22, 2000, 60, true, 1],
    [23, 2000, 40, false, 250_000], // keys up to ~10M
  ])("matches eq. 17 brute force with single-class users (seed %i, n %i, users %i)", (seed, n, nUsers, f64, stride) => {
    const d = makeData(seed, n, nUsers, f64, stride);
    const expected = bruteGauc(d.scores, d.labels, d.users);
    const got = gauc(d.scores, d.labels, d.users);
    // The data must really contain excluded users for this test to mean something.
    expect(expected.usersCounted).toBeGreaterThan(0);
    expect(expected.usersCounted).toBeLessThan(expected.usersTotal);
    expect(got.gauc).toBeCloseTo(expected.gauc, 12);
    expect(got.usersCounted).toBe(expected.usersCounted);
    expect(got.impressionsCounted).toBe(expected.impressionsCounted);
    expect(got.usersTotal).toBe(expected.usersTotal);
  });

  it("weights users by impressions and excludes all-positive and all-negative users", () => {
    const scores = new Float32Array([0.9, 0.1, 0.2, 0.8, 0.5, 0.3, 0.4, 0.6, 0.7]);
    const labels = [1, 0, 1, 0, 0, 1, 1, 0, 0];
    // user 3: AUC 1 over 2 rows; user 7: AUC 0 over 3 rows; user 1 all positive; user 0 all negative.
    const users = new Int32Array([3, 3, 7, 7, 7, 1, 1, 0, 0]);
    const r = gauc(scores, labels, users);
    expect(r.gauc).toBeCloseTo(0.4, 15);
    expect(r.usersCounted).toBe(2);
    expect(r.impressionsCounted).toBe(5);
    expect(r.usersTotal).toBe(4);
  });

  it("is NaN when no user has both classes, and still counts users", () => {
    const r = gauc(new Float32Array([0.1, 0.2, 0.3]), [1, 0, 0], new Int32Array([0, 1, 1]));
    expect(r.gauc).toBeNaN();
    expect(r.usersCounted).toBe(0);
    expect(r.impressionsCounted).toBe(0);
    expect(r.usersTotal).toBe(2);
  });

  it("is NaN with a NaN score but keeps the counts", () => {
    const r = gauc(new Float32Array([0.1, NaN, 0.3, 0.4]), [1, 0, 0, 1], new Int32Array([0, 0, 1, 1]));
    expect(r.gauc).toBeNaN();
    expect(r.usersCounted).toBe(2);
    expect(r.impressionsCounted).toBe(4);
  });

  it("rejects negative user keys and mismatched lengths", () => {
    expect(() => gauc(new Float32Array(2), [0, 1], new Int32Array([0, -1]))).toThrow(/user key -1/);
    expect(() => gauc(new Float32Array(2), [0, 1], new Int32Array(3))).toThrow(/user keys/);
  });
});

describe("logloss", () => {
  it("matches the direct formula", () => {
    const rand = mulberry32(31);
    const n = 500;
    const p = new Float32Array(n);
    const y = new Uint8Array(n);
    let direct = 0;
    for (let i = 0; i < n; i++) {
      p[i] = 0.01 + 0.98 * rand();
      y[i] = rand() < p[i]! ? 1 : 0;
      direct += -(y[i]! * Math.log(p[i]!) + (1 - y[i]!) * Math.log(1 - p[i]!));
    }
    expect(logloss(p, y)).toBeCloseTo(direct / n, 12);
  });

  it("clips probabilities to [1e-7, 1 − 1e-7]", () => {
    expect(LOGLOSS_EPS).toBe(1e-7);
    expect(logloss(new Float64Array([0]), [1])).toBeCloseTo(-Math.log(1e-7), 12);
    expect(logloss(new Float64Array([1]), [0])).toBeCloseTo(-Math.log(1 - (1 - 1e-7)), 12);
    expect(logloss(new Float64Array([1]), [1])).toBeCloseTo(-Math.log(1 - 1e-7), 15);
    expect(Number.isFinite(logloss(new Float64Array([0, 1]), [1, 0]))).toBe(true);
  });

  it("is ln 2 at p = 0.5 and NaN on empty input", () => {
    expect(logloss(new Float32Array([0.5, 0.5, 0.5]), [0, 1, 1])).toBeCloseTo(Math.LN2, 12);
    expect(logloss(new Float32Array(0), [])).toBeNaN();
  });
});

describe("user groups", () => {
  it("buckets at exact thresholds: 10 → 10–30, 30 → ≥30", () => {
    expect(DEFAULT_THRESHOLDS).toEqual([10, 30]);
    expect(groupLabels()).toEqual(["<10", "10–30", "≥30"]);
    expect(groupOf(0)).toBe("<10");
    expect(groupOf(9)).toBe("<10");
    expect(groupOf(10)).toBe("10–30");
    expect(groupOf(29)).toBe("10–30");
    expect(groupOf(30)).toBe("≥30");
    expect(groupOf(1000)).toBe("≥30");
  });

  it("generalises to any increasing thresholds", () => {
    const t = [1, 5, 20];
    expect(groupLabels(t)).toEqual(["<1", "1–5", "5–20", "≥20"]);
    expect([0, 1, 4, 5, 19, 20].map((c) => groupOf(c, t))).toEqual(["<1", "1–5", "1–5", "5–20", "5–20", "≥20"]);
    expect(groupIndex(5, t)).toBe(2);
    expect(groupLabels([7])).toEqual(["<7", "≥7"]);
    expect(() => groupLabels([30, 10])).toThrow(/increase/);
    expect(() => groupLabels([])).toThrow(/empty/);
  });

  it("evaluateGroups matches brute force on each group's rows", () => {
    const d = makeData(41, 1500, 60, false);
    // Training clicks per user, repeated on each of the user's rows (as in Batch.userClicks).
    const clicksOfUser = (u: number) => (u * 7) % 45; // spans all three groups, hits 10 and 30
    const clicks = Int32Array.from(d.users, clicksOfUser);
    const groups = evaluateGroups(d.scores, d.labels, d.users, clicks);
    expect(groups.map((g) => g.group)).toEqual(["<10", "10–30", "≥30"]);
    expect(groups.reduce((s, g) => s + g.samples, 0)).toBe(1500);
    for (const [gi, g] of groups.entries()) {
      const rows = [...d.users.keys()].filter((i) => groupIndex(clicks[i]!, [10, 30]) === gi);
      const s = rows.map((i) => d.scores[i]!);
      const y = rows.map((i) => d.labels[i]!);
      const u = rows.map((i) => d.users[i]!);
      const brute = bruteGauc(s, y, u);
      expect(g.samples).toBe(rows.length);
      expect(g.samples).toBeGreaterThan(0);
      expect(g.positives).toBe(y.filter((v) => v === 1).length);
      expect(g.users).toBe(new Set(u).size);
      expect(g.auc).toBeCloseTo(bruteAuc(s, y), 12);
      expect(g.gauc).toBeCloseTo(brute.gauc, 12);
      expect(g.usersCounted).toBe(brute.usersCounted);
      expect(g.impressionsCounted).toBe(brute.impressionsCounted);
    }
  });

  it("returns empty groups with NaN metrics", () => {
    const groups = evaluateGroups(new Float32Array([0.2, 0.8]), [0, 1], new Int32Array([0, 0]), [3, 3]);
    expect(groups[0]!.samples).toBe(2);
    expect(groups[0]!.auc).toBe(1);
    expect(groups[1]!.samples).toBe(0);
    expect(groups[1]!.auc).toBeNaN();
    expect(groups[2]!.gauc).toBeNaN();
    expect(groups[2]!.users).toBe(0);
  });
});

describe("evaluate", () => {
  it("combines every metric into a JSON-serialisable object", () => {
    const d = makeData(51, 1000, 40, false);
    const clicks = Int32Array.from(d.users, (u) => u % 40);
    const r = evaluate({ scores: d.scores, labels: d.labels, userKey: d.users, userClicks: clicks });
    const g = bruteGauc(d.scores, d.labels, d.users);
    expect(r.auc).toBeCloseTo(bruteAuc(d.scores, d.labels), 12);
    expect(r.gauc).toBeCloseTo(g.gauc, 12);
    expect(r.usersCounted).toBe(g.usersCounted);
    expect(r.impressionsCounted).toBe(g.impressionsCounted);
    expect(r.usersTotal).toBe(g.usersTotal);
    expect(r.logloss).toBeCloseTo(logloss(d.scores, d.labels), 12);
    expect(r.samples).toBe(1000);
    expect(r.positives).toBe(d.labels.reduce((s, v) => s + v, 0));
    expect(r.thresholds).toEqual([10, 30]);
    expect(r.groups).toHaveLength(3);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  it("serialises undefined metrics (NaN) as null", () => {
    const r = evaluate({
      scores: new Float32Array([0.1, 0.9]),
      labels: [0, 0],
      userKey: new Int32Array([0, 1]),
      userClicks: [50, 50],
      thresholds: [5],
    });
    const json = JSON.parse(JSON.stringify(r)) as Record<string, unknown>;
    expect(json.auc).toBeNull();
    expect(json.gauc).toBeNull();
    expect(json.positives).toBe(0);
    expect((json.groups as { group: string }[]).map((g) => g.group)).toEqual(["<5", "≥5"]);
  });
});
