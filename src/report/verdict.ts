/**
 * The one verdict line of a report (SPEC §4): the best cross-entity model (joint training,
 * pre-training & fine-tuning, MKT) against the best single-domain model, "best" by mean AUC over
 * seeds, the difference of their seed means with its paired per-user bootstrap interval, in words.
 * Transfer helps (or hurts) when the AUC interval lies above (below) 0; otherwise it is not
 * detectable on this test split. Both models are picked on the test split itself, so the interval
 * does not cover that choice (docs/models.md, Reports).
 */
import type { Interval } from "../metrics/bootstrap.ts";
import type { ModelCategory } from "../models/recipe.ts";
import { differenceInterval, LEVEL, type RunBootstrap } from "./intervals.ts";

/** What the verdict reads of a Table 2 row (tables.ts's ModelRow). */
interface VerdictRow {
  model: string;
  label: string;
  category: ModelCategory;
  auc: { mean: number };
  gauc: { mean: number };
}

export type VerdictOutcome = "helps" | "hurts" | "not detectable" | "no interval" | "no verdict";

export interface VerdictDifference {
  /** Seed mean of the cross-entity model minus the single-domain model's. */
  difference: number;
  interval: Interval | null;
}

export interface Verdict {
  outcome: VerdictOutcome;
  /** Model names (directory names); null when the run has none of that kind. */
  crossEntity: string | null;
  singleDomain: string | null;
  auc: VerdictDifference | null;
  gauc: VerdictDifference | null;
  text: string;
}

const CROSS_ENTITY: readonly ModelCategory[] = ["joint training", "pre-training & fine-tuning", "ours"];

export function buildVerdict(rows: readonly VerdictRow[], bootstrap: RunBootstrap | null): Verdict {
  const cross = best(rows.filter((r) => CROSS_ENTITY.includes(r.category)));
  const single = best(rows.filter((r) => r.category === "single-domain"));
  if (!cross || !single) {
    const lacking = !single ? "single-domain" : "cross-entity";
    return { outcome: "no verdict", crossEntity: cross?.model ?? null, singleDomain: single?.model ?? null, auc: null, gauc: null, text: `No verdict on transfer: the run has no ${lacking} model with an AUC.` };
  }
  const compare = (metric: "auc" | "gauc"): VerdictDifference => ({
    difference: cross[metric].mean - single[metric].mean,
    interval: differenceInterval(bootstrap, cross.model, single.model, metric),
  });
  const auc = compare("auc");
  const gauc = compare("gauc");
  const models = `${cross.label} (best cross-entity) and ${single.label} (best single-domain)`;
  const aucText = `${differenceText(auc)} AUC points`;
  const gaucText = `GAUC ${differenceText(gauc)}`;
  let outcome: VerdictOutcome;
  let text: string;
  if (!auc.interval) {
    outcome = "no interval";
    text = `Transfer not judged: ${models} differ by ${aucText}, without a bootstrap interval to judge it by; ${gaucText}.`;
  } else if (auc.interval.lo > 0) {
    outcome = "helps";
    text = `Transfer helps: ${cross.label} (best cross-entity) beats ${single.label} (best single-domain) by ${aucText}; ${gaucText}.`;
  } else if (auc.interval.hi < 0) {
    outcome = "hurts";
    text = `Transfer hurts: ${cross.label} (best cross-entity) trails ${single.label} (best single-domain) by ${aucText}; ${gaucText}.`;
  } else {
    outcome = "not detectable";
    text = `No detectable transfer: ${models} differ by ${aucText}, an interval that includes 0; ${gaucText}.`;
  }
  return { outcome, crossEntity: cross.model, singleDomain: single.model, auc, gauc, text };
}

/** The row with the highest finite mean AUC (the first on a tie). */
function best(rows: readonly VerdictRow[]): VerdictRow | undefined {
  return rows.filter((r) => Number.isFinite(r.auc.mean)).reduce<VerdictRow | undefined>((top, r) => (!top || r.auc.mean > top.auc.mean ? r : top), undefined);
}

/** A metric difference in points (× 100), signed: "+0.80". */
export function points(x: number): string {
  return Number.isFinite(x) ? `${x >= 0 ? "+" : ""}${(x * 100).toFixed(2)}` : "n/a";
}

/** "+0.80 (95% CI +0.50 to +1.10)" in points; without an interval the difference alone. */
function differenceText(d: VerdictDifference): string {
  return d.interval ? `${points(d.difference)} (${Math.round(LEVEL * 100)}% CI ${points(d.interval.lo)} to ${points(d.interval.hi)})` : points(d.difference);
}
