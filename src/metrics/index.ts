import { auc, checkLengths, isPositive, type Scores } from "./auc.ts";
import { gauc } from "./gauc.ts";
import { z } from "../util/zod.ts";
import { jsonNumber } from "../util/json.ts";
import { DEFAULT_THRESHOLDS, evaluateGroups, groupMetricsSchema } from "./groups.ts";
import { logloss } from "./logloss.ts";

export { auc } from "./auc.ts";
export { gauc } from "./gauc.ts";
export { logloss } from "./logloss.ts";
export { groupIndex, groupLabels } from "./groups.ts";

export interface EvaluateInput {
  /** Predicted probabilities (sigmoid outputs; AUC/GAUC only use their order, LogLoss their values). */
  scores: Scores;
  /** 0/1 labels; > 0.5 counts as positive. */
  labels: ArrayLike<number>;
  /** Dense non-negative user key per row (Batch.userKey). */
  userKey: Int32Array;
  /** Per row: the training-split clicks of the row's user (Batch.userClicks). */
  userClicks: ArrayLike<number>;
  /** User-group thresholds; default [10, 30]. */
  thresholds?: readonly number[];
}

/**
 * Metrics of one evaluated split (SPEC §4), a plain JSON-serialisable object (metrics.json, and
 * result.json's `metrics`). Any metric that is undefined on the data (no positive, no negative, no
 * counted user, empty input, NaN score) is NaN, which JSON.stringify writes as null.
 */
export const evaluationResultSchema = z.object({
  auc: jsonNumber,
  gauc: jsonNumber,
  /** Users with both a positive and a negative (the users GAUC averages over). */
  usersCounted: z.number().int(),
  /** Impressions of those users. */
  impressionsCounted: z.number().int(),
  /** Distinct users in the split. */
  usersTotal: z.number().int(),
  logloss: jsonNumber,
  samples: z.number().int(),
  positives: z.number().int(),
  thresholds: z.array(z.number()),
  groups: z.array(groupMetricsSchema),
});
export type EvaluationResult = z.output<typeof evaluationResultSchema>;

export function evaluate(input: EvaluateInput): EvaluationResult {
  const { scores, labels, userKey, userClicks } = input;
  const thresholds = [...(input.thresholds ?? DEFAULT_THRESHOLDS)];
  checkLengths(scores, labels);
  let positives = 0;
  for (let i = 0; i < labels.length; i++) if (isPositive(labels[i]!)) positives++;
  const g = gauc(scores, labels, userKey);
  return {
    auc: auc(scores, labels),
    gauc: g.gauc,
    usersCounted: g.usersCounted,
    impressionsCounted: g.impressionsCounted,
    usersTotal: g.usersTotal,
    logloss: logloss(scores, labels),
    samples: scores.length,
    positives,
    thresholds,
    groups: evaluateGroups(scores, labels, userKey, userClicks, thresholds),
  };
}

/** Per evaluated row, in the split's file order. */
export interface PredictionRows {
  scores: Float32Array;
  labels: Float32Array;
  userKey: Int32Array;
  /** The user's training-split clicks (selects the user group). */
  userClicks: Int32Array;
}

export interface SplitEvaluation {
  metrics: EvaluationResult;
  rows: PredictionRows;
  /** Wall time of the prediction pass (reading included), and its throughput. */
  seconds: number;
  samplesPerSecond: number;
}
