import { checkLengths, type Scores } from "./auc.ts";

/** Probabilities are clipped to [EPS, 1 − EPS] so that a confident mistake costs ~16, not ∞. */
export const LOGLOSS_EPS = 1e-7;

/**
 * Mean binary cross-entropy −[y·ln p + (1−y)·ln(1−p)] of probabilities `probs` (not logits)
 * against labels y ∈ [0, 1]. NaN for an empty input (or a NaN probability).
 */
export function logloss(probs: Scores | ArrayLike<number>, labels: ArrayLike<number>): number {
  checkLengths(probs, labels);
  const n = probs.length;
  if (n === 0) return NaN;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const raw = probs[i]!;
    const p = raw < LOGLOSS_EPS ? LOGLOSS_EPS : raw > 1 - LOGLOSS_EPS ? 1 - LOGLOSS_EPS : raw; // NaN passes through
    const y = labels[i]!;
    sum -= y * Math.log(p) + (1 - y) * Math.log(1 - p);
  }
  return sum / n;
}
