/**
 * Statistics over seeds (SPEC §4): mean ± sample std, relative improvement, and a paired
 * comparison against a reference model (per-seed differences, sign agreement, paired t-test).
 * Undefined inputs (NaN metrics, empty lists) propagate as NaN / null rather than throwing: the
 * report shows them as "n/a" instead of hiding a model.
 */

/** One seed's value of a metric. */
export interface SeedValue {
  seed: number;
  value: number;
}

export interface MetricSummary {
  perSeed: SeedValue[];
  mean: number;
  /** Sample standard deviation (n − 1); 0 for one seed, NaN for none. */
  std: number;
}

export interface PairedComparison {
  /** Seeds both models have, ascending. */
  seeds: number[];
  /** Per paired seed: value − reference value. */
  differences: number[];
  meanDifference: number;
  /** True when every paired difference is non-zero and has the same sign. */
  sameSign: boolean;
  /** Two-sided paired t-test over seeds; null with fewer than 3 paired seeds or a non-finite difference. */
  pValue: number | null;
}

export interface Comparison extends PairedComparison {
  /** Relative improvement of the means, (m − m_ref) / m_ref in %. */
  improvement: number;
  /** The same per paired seed, in %. */
  perSeedImprovement: SeedValue[];
}

/** Below 3 seeds a t-test has df ≤ 1 and says next to nothing; report the sign agreement only. */
const MIN_SEEDS_FOR_TEST = 3;

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  let sum = 0;
  for (const x of xs) sum += x;
  return sum / xs.length;
}

export function sampleStd(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  if (xs.length === 1) return 0;
  const m = mean(xs);
  let ss = 0;
  for (const x of xs) ss += (x - m) ** 2;
  return Math.sqrt(ss / (xs.length - 1));
}

/** (m − ref) / ref in %; NaN when ref is 0 or either value is not finite. */
export function relativeImprovement(m: number, ref: number): number {
  if (!Number.isFinite(m) || !Number.isFinite(ref) || ref === 0) return NaN;
  return ((m - ref) / ref) * 100;
}

export function summarize(perSeed: readonly SeedValue[]): MetricSummary {
  const sorted = [...perSeed].sort((a, b) => a.seed - b.seed);
  const values = sorted.map((s) => s.value);
  return { perSeed: sorted, mean: mean(values), std: sampleStd(values) };
}

/** Pairs two models' per-seed values on their common seeds. */
export function pairedComparison(values: readonly SeedValue[], reference: readonly SeedValue[]): PairedComparison {
  const refBySeed = new Map(reference.map((r) => [r.seed, r.value]));
  const pairs = values
    .filter((v) => refBySeed.has(v.seed))
    .sort((a, b) => a.seed - b.seed)
    .map((v) => ({ seed: v.seed, difference: v.value - refBySeed.get(v.seed)! }));
  const differences = pairs.map((p) => p.difference);
  const sameSign = differences.length > 0 && (differences.every((d) => d > 0) || differences.every((d) => d < 0));
  return { seeds: pairs.map((p) => p.seed), differences, meanDifference: mean(differences), sameSign, pValue: pairedTTest(differences) };
}

export function compare(summary: MetricSummary, reference: MetricSummary): Comparison {
  const refBySeed = new Map(reference.perSeed.map((r) => [r.seed, r.value]));
  return {
    improvement: relativeImprovement(summary.mean, reference.mean),
    perSeedImprovement: summary.perSeed
      .filter((v) => refBySeed.has(v.seed))
      .map((v) => ({ seed: v.seed, value: relativeImprovement(v.value, refBySeed.get(v.seed)!) })),
    ...pairedComparison(summary.perSeed, reference.perSeed),
  };
}

/** Two-sided one-sample t-test of mean(differences) = 0. */
export function pairedTTest(differences: readonly number[]): number | null {
  const n = differences.length;
  if (n < MIN_SEEDS_FOR_TEST || !differences.every(Number.isFinite)) return null;
  const m = mean(differences);
  const sd = sampleStd(differences);
  // Identical differences: t is ±∞ (p → 0) unless they are all zero (no difference at all).
  if (sd === 0) return m === 0 ? 1 : 0;
  return studentTTwoSidedP(m / (sd / Math.sqrt(n)), n - 1);
}

/** P(|T| ≥ |t|) for Student's t with df degrees of freedom: I_{df/(df+t²)}(df/2, 1/2). */
export function studentTTwoSidedP(t: number, df: number): number {
  if (Number.isNaN(t) || !(df > 0)) return NaN;
  if (!Number.isFinite(t)) return 0;
  return regularizedIncompleteBeta(df / 2, 0.5, df / (df + t * t));
}

/** P(T ≤ t) for Student's t with df degrees of freedom. */
export function studentTCdf(t: number, df: number): number {
  const tail = studentTTwoSidedP(t, df) / 2;
  return t >= 0 ? 1 - tail : tail;
}

/** I_x(a, b), the regularized incomplete beta function (Numerical Recipes §6.4, betai). */
export function regularizedIncompleteBeta(a: number, b: number, x: number): number {
  if (!(a > 0) || !(b > 0) || Number.isNaN(x) || x < 0 || x > 1) return NaN;
  if (x === 0) return 0;
  if (x === 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x));
  // The continued fraction converges fast for x < (a+1)/(a+b+2); otherwise use the symmetry I_x(a,b) = 1 − I_{1−x}(b,a).
  return x < (a + 1) / (a + b + 2) ? (front * betaContinuedFraction(a, b, x)) / a : 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** Modified Lentz evaluation of the incomplete beta continued fraction (Numerical Recipes betacf). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const maxIterations = 300;
  const eps = 1e-15;
  const tiny = 1e-300;
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  // One Lentz update of c and d with the coefficient aa; returns the factor h takes.
  const step = (aa: number): number => {
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    return d * c;
  };
  for (let m = 1; m <= maxIterations; m++) {
    const m2 = 2 * m;
    h *= step((m * (b - m) * x) / ((qam + m2) * (a + m2))); // even term
    const delta = step((-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2))); // odd term
    h *= delta;
    if (Math.abs(delta - 1) < eps) return h;
  }
  return h;
}

// Lanczos approximation, g = 7, n = 9: ~15 significant digits for x > 0.
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
  -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0. */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let sum = LANCZOS[0]!;
  for (let i = 1; i < LANCZOS.length; i++) sum += LANCZOS[i]! / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}
