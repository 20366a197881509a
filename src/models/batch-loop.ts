/**
 * The one batch loop of training, evaluation, importance and export. It owns what a pass over
 * batches must get right: the reader's batches in order, the tensors made of a batch (made and
 * released inside tf.tidy, or released after use), and the reuse of a batch's buffers (handed back
 * to the reader once nothing reads the batch).
 */
import { tf } from "../engine/index.ts";
import type { Batch } from "../data/batch.ts";
import type { BatchOptions, PreparedDataset } from "../data/reader.ts";
import { batchToTensors, disposeBatchTensors, type BatchTensors } from "./inputs.ts";

export interface LoopOptions extends BatchOptions {
  /** Stop after this many batches. */
  maxBatches?: number;
}

/**
 * Visits every batch of a read in order; a visit returning false stops the loop. Once a visit has
 * returned, the batch's buffers go back to the reader for later batches: a visit keeps copies
 * (tensors, values read back, parts posted to workers), never the batch's own arrays.
 */
export async function forEachBatch(dataset: PreparedDataset, read: LoopOptions, visit: (batch: Batch) => Promise<boolean | void>): Promise<void> {
  let visited = 0;
  for await (const batch of dataset.batches(read)) {
    const more = await visit(batch);
    dataset.recycle(batch);
    if (more === false || ++visited === read.maxBatches) break;
  }
}

/** What `compute` returned, read back, and the batch row of each tensor row (batchToTensors puts source rows first). */
export interface BatchValues {
  values: Float32Array;
  order: Int32Array;
}

/**
 * Runs `compute` on the batch's tensors inside tf.tidy, so they and every intermediate are
 * released; the tensor it returns is read back and released too (undefined when it returns none).
 */
export async function valuesOf(batch: Batch, compute: (t: BatchTensors) => tf.Tensor | undefined): Promise<BatchValues | undefined> {
  let order: Int32Array = new Int32Array(0);
  const result = tf.tidy(() => {
    const t = batchToTensors(batch);
    order = t.order;
    return compute(t);
  });
  if (result === undefined) return undefined;
  try {
    return { values: (await result.data()) as Float32Array, order };
  } finally {
    result.dispose();
  }
}

/** Runs `use` on the batch's tensors, made outside any tf.tidy (e.g. inputs a trace records), and releases them after. */
export function withTensors<T>(batch: Batch, use: (t: BatchTensors) => T): T {
  const t = batchToTensors(batch);
  try {
    return use(t);
  } finally {
    disposeBatchTensors(t);
  }
}

/** Click probabilities of the batch's rows through the target path, in the batch's row order. */
export async function predictBatch(model: { predictTarget(t: BatchTensors): tf.Tensor1D }, batch: Batch): Promise<Float32Array> {
  const { values, order } = (await valuesOf(batch, (t) => model.predictTarget(t)))!;
  const scores = new Float32Array(batch.size);
  for (let i = 0; i < batch.size; i++) scores[order[i]!] = values[i]!;
  return scores;
}
