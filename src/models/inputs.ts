import * as tf from "@tensorflow/tfjs";
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
 * Feature ids are int32 vocabulary indices; labels and masks are float32.
 */
export interface BatchTensors {
  size: number;
  /** 1 for target rows, 0 for source rows [B] float32 (multiply per-row losses by it). */
  isTarget: tf.Tensor1D;
  label: tf.Tensor1D;
  /** Prepared column name (user__…, shared__…, source__…, target__…) → ids [B] int32. */
  features: Record<string, tf.Tensor1D>;
  /** "seq_source", "seq_target". */
  sequences: Record<string, SequenceTensors>;
  /** Row indices of source / target rows [n_e] int32 (for models that route rows per entity). */
  rows: { source: tf.Tensor1D; target: tf.Tensor1D };
}

export function batchToTensors(batch: Batch): BatchTensors {
  const n = batch.size;
  const isTarget = new Float32Array(n);
  const sourceRows: number[] = [];
  const targetRows: number[] = [];
  for (let i = 0; i < n; i++) {
    const target = batch.entity[i] === TARGET;
    isTarget[i] = target ? 1 : 0;
    (target ? targetRows : sourceRows).push(i);
  }
  const features: Record<string, tf.Tensor1D> = {};
  for (const [column, ids] of Object.entries(batch.features)) features[column] = tf.tensor1d(ids, "int32");
  const sequences: Record<string, SequenceTensors> = {};
  for (const [name, seq] of Object.entries(batch.sequences)) {
    const L = seq.maxlen;
    const mask = new Float32Array(n * L);
    for (let i = 0; i < n; i++) mask.fill(1, i * L, i * L + Math.min(seq.length[i]!, L));
    const ids: Record<string, tf.Tensor2D> = {};
    for (const [element, values] of Object.entries(seq.ids)) ids[element] = tf.tensor2d(values, [n, L], "int32");
    sequences[name] = { ids, mask: tf.tensor2d(mask, [n, L]) };
  }
  return {
    size: n,
    isTarget: tf.tensor1d(isTarget),
    label: tf.tensor1d(batch.label),
    features,
    sequences,
    rows: { source: tf.tensor1d(sourceRows, "int32"), target: tf.tensor1d(targetRows, "int32") },
  };
}

export function disposeBatchTensors(t: BatchTensors): void {
  tf.dispose([t.isTarget, t.label, t.rows.source, t.rows.target, ...Object.values(t.features)]);
  for (const seq of Object.values(t.sequences)) tf.dispose([seq.mask, ...Object.values(seq.ids)]);
}
