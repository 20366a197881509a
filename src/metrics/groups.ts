import { z } from "../util/zod.ts";
import { jsonNumber } from "../util/json.ts";
import { auc, checkLengths, isPositive, type Scores } from "./auc.ts";
import { gauc } from "./gauc.ts";

/**
 * User groups of SPEC §4 / paper Table 3: users bucketed by their clicks (positives, both
 * entities) in the training split. Thresholds [a, b, …, z] give the groups
 * `<a`, `a–b`, …, `≥z`; a user with exactly `a` clicks is in `a–b` (lower bound inclusive).
 */
export const DEFAULT_THRESHOLDS: readonly number[] = [10, 30];

function checkThresholds(thresholds: readonly number[]): void {
  if (thresholds.length === 0) throw new Error("metrics: user-group thresholds must not be empty");
  for (let i = 0; i < thresholds.length; i++) {
    const t = thresholds[i]!;
    if (!Number.isFinite(t)) throw new Error(`metrics: user-group threshold ${t} is not a finite number`);
    if (i > 0 && t <= thresholds[i - 1]!) {
      throw new Error(`metrics: user-group thresholds must increase strictly, got [${thresholds.join(", ")}]`);
    }
  }
}

/** The group labels in order, e.g. [10, 30] → ["<10", "10–30", "≥30"]. */
export function groupLabels(thresholds: readonly number[] = DEFAULT_THRESHOLDS): string[] {
  checkThresholds(thresholds);
  const labels = [`<${thresholds[0]!}`];
  for (let i = 1; i < thresholds.length; i++) labels.push(`${thresholds[i - 1]!}–${thresholds[i]!}`);
  labels.push(`≥${thresholds[thresholds.length - 1]!}`);
  return labels;
}

/** Index of the group of a click count: the number of thresholds ≤ clicks. */
export function groupIndex(clicks: number, thresholds: readonly number[] = DEFAULT_THRESHOLDS): number {
  let g = 0;
  while (g < thresholds.length && clicks >= thresholds[g]!) g++;
  return g;
}

/** The group label of a click count: groupOf(9) = "<10", groupOf(10) = "10–30", groupOf(30) = "≥30". */
export function groupOf(clicks: number, thresholds: readonly number[] = DEFAULT_THRESHOLDS): string {
  return groupLabels(thresholds)[groupIndex(clicks, thresholds)]!;
}

export const groupMetricsSchema = z.object({
  group: z.string(),
  /** Impressions whose user is in this group. */
  samples: z.number().int(),
  positives: z.number().int(),
  /** Distinct users in this group. */
  users: z.number().int(),
  /** NaN (null in JSON) when the group lacks a class. */
  auc: jsonNumber,
  /** NaN (null in JSON) when no user of the group has both classes. */
  gauc: jsonNumber,
  usersCounted: z.number().int(),
  impressionsCounted: z.number().int(),
});
export type GroupMetrics = z.output<typeof groupMetricsSchema>;

/**
 * AUC and GAUC per user group. `userClicks` is per row (aligned with scores, like
 * `Batch.userClicks`): the training clicks of that row's user. Every group is returned, in
 * threshold order, empty ones included.
 */
export function evaluateGroups(
  scores: Scores,
  labels: ArrayLike<number>,
  userKey: Int32Array,
  userClicks: ArrayLike<number>,
  thresholds: readonly number[] = DEFAULT_THRESHOLDS,
): GroupMetrics[] {
  checkLengths(scores, labels);
  const n = scores.length;
  if (userKey.length !== n || userClicks.length !== n) {
    throw new Error(`metrics: ${n} scores but ${userKey.length} user keys and ${userClicks.length} user click counts`);
  }
  const names = groupLabels(thresholds);
  const groupOfRow = new Uint32Array(n);
  const sizes = new Array<number>(names.length).fill(0);
  for (let i = 0; i < n; i++) {
    const g = groupIndex(userClicks[i]!, thresholds);
    groupOfRow[i] = g;
    sizes[g]!++;
  }

  return names.map((group, g) => {
    const m = sizes[g]!;
    // Copy the group's rows into compact arrays and reuse the whole-set metrics on them.
    const s = scores instanceof Float32Array ? new Float32Array(m) : new Float64Array(m);
    const y = new Uint8Array(m);
    const u = new Int32Array(m);
    let k = 0;
    let positives = 0;
    for (let i = 0; i < n; i++) {
      if (groupOfRow[i] !== g) continue;
      s[k] = scores[i]!;
      const pos = isPositive(labels[i]!);
      y[k] = pos ? 1 : 0;
      if (pos) positives++;
      u[k] = userKey[i]!;
      k++;
    }
    const gr = gauc(s, y, u);
    return {
      group,
      samples: m,
      positives,
      users: gr.usersTotal,
      auc: auc(s, y),
      gauc: gr.gauc,
      usersCounted: gr.usersCounted,
      impressionsCounted: gr.impressionsCounted,
    };
  });
}
