import { describe, expect, it } from "vitest";
import {
  compare,
  logGamma,
  mean,
  pairedComparison,
  pairedTTest,
  regularizedIncompleteBeta,
  relativeImprovement,
  sampleStd,
  studentTCdf,
  studentTTwoSidedP,
  summarize,
} from "../../src/report/stats.ts";

describe("mean, std, improvement", () => {
  it("computes mean and the sample (n − 1) std", () => {
    expect(mean([0.7, 0.71, 0.72])).toBeCloseTo(0.71, 12);
    expect(sampleStd([0.7, 0.71, 0.72])).toBeCloseTo(0.01, 12);
    expect(sampleStd([2, 4, 4, 4, 5, 5, 7, 9])).toBeCloseTo(2.138089935299395, 12);
  });

  it("gives std 0 for one seed and NaN for none", () => {
    expect(sampleStd([0.73])).toBe(0);
    expect(mean([])).toBeNaN();
    expect(sampleStd([])).toBeNaN();
  });

  it("computes the relative improvement in %", () => {
    expect(relativeImprovement(0.7398, 0.7345)).toBeCloseTo(0.721579305650102, 10);
    expect(relativeImprovement(0.7, 0.7)).toBe(0);
    expect(relativeImprovement(0.7, 0)).toBeNaN();
    expect(relativeImprovement(NaN, 0.7)).toBeNaN();
  });

  it("summarizes per-seed values sorted by seed", () => {
    const s = summarize([
      { seed: 3, value: 0.72 },
      { seed: 1, value: 0.7 },
      { seed: 2, value: 0.71 },
    ]);
    expect(s.perSeed.map((v) => v.seed)).toEqual([1, 2, 3]);
    expect(s.mean).toBeCloseTo(0.71, 12);
    expect(s.std).toBeCloseTo(0.01, 12);
  });
});

describe("Student t distribution", () => {
  it("matches known two-sided p-values", () => {
    expect(studentTTwoSidedP(2, 4)).toBeCloseTo(0.116117, 6);
    expect(studentTTwoSidedP(3, 2)).toBeCloseTo(0.095466, 6);
    expect(studentTTwoSidedP(-3, 2)).toBeCloseTo(0.095466, 6);
    expect(studentTTwoSidedP(2.776445105, 4)).toBeCloseTo(0.05, 8);
    expect(studentTTwoSidedP(12.70620474, 1)).toBeCloseTo(0.05, 8);
    expect(studentTTwoSidedP(2.228138852, 10)).toBeCloseTo(0.05, 8);
    expect(studentTTwoSidedP(0, 5)).toBeCloseTo(1, 12);
    expect(studentTTwoSidedP(Infinity, 5)).toBe(0);
  });

  it("matches closed forms: df = 1 (Cauchy) and df = 2", () => {
    for (const t of [0.1, 0.5, 1, 2, 5, 30]) {
      expect(studentTTwoSidedP(t, 1)).toBeCloseTo(1 - (2 / Math.PI) * Math.atan(t), 12);
      expect(studentTTwoSidedP(t, 2)).toBeCloseTo(1 - t / Math.sqrt(t * t + 2), 12);
    }
  });

  it("approaches the normal distribution for large df", () => {
    expect(studentTTwoSidedP(1.959963985, 1e7)).toBeCloseTo(0.05, 6);
  });

  it("has a CDF that is symmetric around 0", () => {
    expect(studentTCdf(0, 3)).toBeCloseTo(0.5, 12);
    expect(studentTCdf(2, 4)).toBeCloseTo(1 - 0.116117 / 2, 6);
    expect(studentTCdf(-2, 4)).toBeCloseTo(0.116117 / 2, 6);
  });

  it("has a regularized incomplete beta matching closed forms", () => {
    for (const x of [0.01, 0.2, 0.5, 0.9, 0.999]) {
      expect(regularizedIncompleteBeta(1, 1, x)).toBeCloseTo(x, 12);
      expect(regularizedIncompleteBeta(3, 1, x)).toBeCloseTo(x ** 3, 12);
      expect(regularizedIncompleteBeta(1, 4, x)).toBeCloseTo(1 - (1 - x) ** 4, 12);
    }
    expect(regularizedIncompleteBeta(7.5, 7.5, 0.5)).toBeCloseTo(0.5, 12);
    expect(regularizedIncompleteBeta(2, 3, 0)).toBe(0);
    expect(regularizedIncompleteBeta(2, 3, 1)).toBe(1);
  });

  it("has an accurate log-gamma", () => {
    expect(logGamma(5)).toBeCloseTo(Math.log(24), 12);
    expect(logGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 12);
    expect(logGamma(100)).toBeCloseTo(359.1342053695754, 9);
  });
});

describe("paired comparison over seeds", () => {
  const ref = [
    { seed: 1, value: 0.7 },
    { seed: 2, value: 0.71 },
    { seed: 3, value: 0.72 },
  ];

  it("pairs on common seeds, flags a consistent sign and tests with 3 seeds", () => {
    const values = [
      { seed: 1, value: 0.702 },
      { seed: 2, value: 0.713 },
      { seed: 3, value: 0.724 },
    ];
    const c = pairedComparison(values, ref);
    expect(c.seeds).toEqual([1, 2, 3]);
    expect(c.differences[0]).toBeCloseTo(0.002, 12);
    expect(c.differences[1]).toBeCloseTo(0.003, 12);
    expect(c.differences[2]).toBeCloseTo(0.004, 12);
    expect(c.meanDifference).toBeCloseTo(0.003, 12);
    expect(c.sameSign).toBe(true);
    // t = 0.003 / (0.001 / √3) = 3√3, df = 2: p = 1 − t / √(t² + 2) = 1 − 3√3 / √29.
    expect(c.pValue).toBeCloseTo(1 - (3 * Math.sqrt(3)) / Math.sqrt(29), 8);
    expect(c.pValue).toBeCloseTo(0.0350987, 6);
  });

  it("does not flag a difference whose sign changes, nor a zero difference", () => {
    const mixed = pairedComparison(
      [
        { seed: 1, value: 0.69 },
        { seed: 2, value: 0.715 },
        { seed: 3, value: 0.7 },
      ],
      ref,
    );
    expect(mixed.sameSign).toBe(false);
    const withZero = pairedComparison(
      [
        { seed: 1, value: 0.7 },
        { seed: 2, value: 0.72 },
        { seed: 3, value: 0.73 },
      ],
      ref,
    );
    expect(withZero.sameSign).toBe(false);
  });

  it("gives no p-value below 3 paired seeds", () => {
    const c = pairedComparison(
      [
        { seed: 1, value: 0.705 },
        { seed: 2, value: 0.712 },
        { seed: 4, value: 0.8 },
      ],
      ref,
    );
    expect(c.seeds).toEqual([1, 2]);
    expect(c.sameSign).toBe(true);
    expect(c.pValue).toBeNull();
  });

  it("handles identical and non-finite differences", () => {
    expect(pairedTTest([0.01, 0.01, 0.01])).toBe(0);
    expect(pairedTTest([0, 0, 0])).toBe(1);
    expect(pairedTTest([0.01, NaN, 0.02])).toBeNull();
  });

  it("compares summaries: improvement of the means and per seed", () => {
    const c = compare(
      summarize([
        { seed: 1, value: 0.63 },
        { seed: 2, value: 0.63 },
        { seed: 3, value: 0.63 },
      ]),
      summarize([
        { seed: 1, value: 0.6 },
        { seed: 2, value: 0.61 },
        { seed: 3, value: 0.62 },
      ]),
    );
    expect(c.improvement).toBeCloseTo(((0.63 - 0.61) / 0.61) * 100, 10);
    expect(c.perSeedImprovement.map((p) => p.value)).toEqual([((0.63 - 0.6) / 0.6) * 100, ((0.63 - 0.61) / 0.61) * 100, ((0.63 - 0.62) / 0.62) * 100]);
    // Differences 0.03, 0.02, 0.01: t = 2√3, df = 2.
    expect(c.pValue).toBeCloseTo(1 - Math.sqrt(12) / Math.sqrt(14), 8);
  });
});
