import type { Batch } from "../data/batch.ts";
import type { BatchOptions, PreparedDataset } from "../data/reader.ts";
import { evaluate, groupLabels, groupIndex, type PredictionRows, type SplitEvaluation } from "../metrics/index.ts";
import { forEachBatch, predictBatch } from "../models/batch-loop.ts";
import type { CtrModel } from "../models/model.ts";
import { writeFileAtomic } from "../util/atomic.ts";

export interface EvaluateSplitOptions {
  split: BatchOptions["split"];
  /** Rows per prediction batch (training.eval_batch_size). */
  batchSize: number;
  /** Scores a batch in its row order (default: predictBatch on `model` in this thread), e.g. across replicas. */
  predict?: (batch: Batch) => Promise<Float32Array>;
}

/**
 * Predicts every target row of a split in file order (no shuffle) and computes the metrics of
 * SPEC §4 with the dataset's user-group thresholds.
 */
export async function evaluateSplit(model: CtrModel, dataset: PreparedDataset, options: EvaluateSplitOptions): Promise<SplitEvaluation> {
  const started = performance.now();
  const read = { split: options.split, entities: ["target" as const] };
  const n = dataset.rowCount(read);
  const rows: PredictionRows = { scores: new Float32Array(n), labels: new Float32Array(n), userKey: new Int32Array(n), userClicks: new Int32Array(n) };
  let offset = 0;
  const predict = options.predict ?? ((b: Batch) => predictBatch(model, b));
  await forEachBatch(dataset, { ...read, batchSize: options.batchSize }, async (batch) => {
    if (offset + batch.size > n) throw new Error(`evaluate: the ${options.split} split yielded more than its ${n} rows`);
    rows.scores.set(await predict(batch), offset);
    rows.labels.set(batch.label, offset);
    rows.userKey.set(batch.userKey, offset);
    rows.userClicks.set(batch.userClicks, offset);
    offset += batch.size;
  });
  if (offset !== n) throw new Error(`evaluate: the ${options.split} split yielded ${offset} of its ${n} rows`);
  const seconds = (performance.now() - started) / 1000;
  const metrics = evaluate({ ...rows, thresholds: dataset.schema.userGroups });
  return { metrics, rows, seconds, samplesPerSecond: n / seconds };
}

export const PREDICTIONS_HEADER = "user_key,label,score,user_group";

/**
 * Writes one CSV row per evaluated sample (user_key, label, score, user_group), atomically, so any
 * tool can recompute AUC, GAUC and the per-group figures. Scores are written with enough digits
 * to read back as the identical float32.
 */
export async function writePredictions(file: string, rows: PredictionRows, thresholds: readonly number[]): Promise<void> {
  const labels = groupLabels(thresholds);
  const lines = [PREDICTIONS_HEADER];
  for (let i = 0; i < rows.scores.length; i++) {
    const group = labels[groupIndex(rows.userClicks[i]!, thresholds)]!;
    lines.push(`${rows.userKey[i]!},${rows.labels[i]!},${rows.scores[i]!},${group}`);
  }
  await writeFileAtomic(file, lines.join("\n") + "\n");
}
