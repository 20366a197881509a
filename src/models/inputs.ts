import { tensorFrom, tf } from "../engine/index.ts";
import { TARGET, type Batch } from "../data/batch.ts";

/** One behaviour sequence as tensors. */
export interface SequenceTensors {
  /** Element feature name (item_id and each shared feature) → ids [B, L] int32. */
  ids: Record<string, tf.Tensor2D>;
  /** 1 for real elements, 0 for padding [B, L] float32. */
  mask: tf.Tensor2D;
}

/**
 * A batch as tensors (created outside tf.tidy by the training loop and disposed after the step).
 * Rows are reordered so that all source rows come first, then all target rows: a model that treats
 * the entities differently takes each entity's rows with tf.slice (whose gradient works on every
 * backend, unlike gather's on wasm) and concatenates the results. `order[i]` is the batch row of
 * tensor row i. Feature ids are int32 vocabulary indices; labels and masks are float32.
 */
export interface BatchTensors {
  size: number;
  /** Rows per entity: tensor rows [0, source) are source rows, [source, size) target rows. */
  counts: { source: number; target: number };
  /** Batch row of each tensor row. */
  order: Int32Array;
  /** 1 for target rows, 0 for source rows [B] float32. */
  isTarget: tf.Tensor1D;
  label: tf.Tensor1D;
  /** Prepared column name (user__…, shared__…, source__…, target__…) → ids [B] int32. */
  features: Record<string, tf.Tensor1D>;
  /** "seq_source", "seq_target". */
  sequences: Record<string, SequenceTensors>;
}

export function batchToTensors(batch: Batch): BatchTensors {
  const n = batch.size;
  const order = new Int32Array(n);
  let sources = 0;
  for (let i = 0; i < n; i++) if (batch.entity[i] !== TARGET) order[sources++] = i;
  for (let i = 0, k = sources; i < n; i++) if (batch.entity[i] === TARGET) order[k++] = i;
  // Rows of one entity (every evaluation batch) keep their order: whole columns are copied at once.
  const inOrder = sources === 0 || sources === n;
  /** Writes the batch's rows of `values` (`width` values each) in tensor row order. */
  const rowsOf = (values: Int32Array | Float32Array, width = 1) => (into: Int32Array | Float32Array) => {
    if (inOrder) into.set(values.subarray(0, n * width));
    else if (width === 1) for (let i = 0; i < n; i++) into[i] = values[order[i]!]!; // no subarray per value
    else for (let i = 0; i < n; i++) into.set(values.subarray(order[i]! * width, order[i]! * width + width), i * width);
  };
  const features: Record<string, tf.Tensor1D> = {};
  for (const [column, ids] of Object.entries(batch.features)) features[column] = tensorFrom([n], "int32", rowsOf(ids)) as tf.Tensor1D;
  const sequences: Record<string, SequenceTensors> = {};
  for (const [name, seq] of Object.entries(batch.sequences)) {
    const L = seq.maxlen;
    const mask = tensorFrom([n, L], "float32", (values) => {
      for (let i = 0; i < n; i++) {
        const real = Math.min(seq.length[order[i]!]!, L);
        values.fill(1, i * L, i * L + real);
        values.fill(0, i * L + real, i * L + L);
      }
    });
    const ids: Record<string, tf.Tensor2D> = {};
    for (const [element, values] of Object.entries(seq.ids)) {
      ids[element] = tensorFrom([n, L], "int32", rowsOf(values, L)) as tf.Tensor2D;
    }
    sequences[name] = { ids, mask: mask as tf.Tensor2D };
  }
  return {
    size: n,
    counts: { source: sources, target: n - sources },
    order,
    isTarget: tensorFrom([n], "float32", (values) => values.fill(0, 0, sources).fill(1, sources)) as tf.Tensor1D,
    label: tensorFrom([n], "float32", rowsOf(batch.label)) as tf.Tensor1D,
    features,
    sequences,
  };
}

export function disposeBatchTensors(t: BatchTensors): void {
  tf.dispose([t.isTarget, t.label, ...Object.values(t.features)]);
  for (const seq of Object.values(t.sequences)) tf.dispose([seq.mask, ...Object.values(seq.ids)]);
}
