/** Entity codes used in every batch and prepared file. */
export const SOURCE = 0;
export const TARGET = 1;
export type EntityName = "source" | "target";
export const ENTITY_NAMES: readonly EntityName[] = ["source", "target"];

/** One behaviour sequence of a batch: ids per element feature, row-major [size × maxlen]. */
export interface SequenceBatch {
  maxlen: number;
  /** Number of real (non-padding) elements per row, ≤ maxlen; padding id is 0. */
  length: Int32Array;
  /** Element feature name → ids [size × maxlen], newest first. Keys: the item id feature and every shared item feature. */
  ids: Record<string, Int32Array>;
}

/**
 * A batch of samples as typed arrays, ready to become tensors. Feature ids are vocabulary
 * indices (0 = padding/missing, 1 = out-of-vocabulary). In mixed (joint) batches the
 * entity-specific features of the other entity are 0.
 */
export interface Batch {
  size: number;
  /** 0 = source, 1 = target. */
  entity: Uint8Array;
  label: Float32Array;
  /** Dense user key over all users (not vocabulary-limited): groups samples by user for GAUC. */
  userKey: Int32Array;
  /** The user's clicks (positives, both entities) in the training split: for user groups. */
  userClicks: Int32Array;
  /** Time slice index of the sample (day for time splits, 0 for per-user-order splits): for continual training. */
  slice: Int32Array;
  /** Prepared column name (e.g. "user__gender", "shared__category", "target__style") → ids. */
  features: Record<string, Int32Array>;
  /** "seq_source" and "seq_target". */
  sequences: Record<string, SequenceBatch>;
}

/**
 * Rows [start, end) of a batch. `copy` gives arrays of their own (needed to transfer them to a
 * worker without detaching the original's); otherwise the arrays are views into the batch's.
 */
export function sliceBatch(batch: Batch, start: number, end: number, copy: boolean): Batch {
  const rows = <T extends Uint8Array | Int32Array | Float32Array>(a: T, width = 1): T =>
    (copy ? a.slice(start * width, end * width) : a.subarray(start * width, end * width)) as T;
  const sequences: Record<string, SequenceBatch> = {};
  for (const [name, s] of Object.entries(batch.sequences)) {
    sequences[name] = {
      maxlen: s.maxlen,
      length: rows(s.length),
      ids: Object.fromEntries(Object.entries(s.ids).map(([feature, ids]) => [feature, rows(ids, s.maxlen)])),
    };
  }
  return {
    size: end - start,
    entity: rows(batch.entity),
    label: rows(batch.label),
    userKey: rows(batch.userKey),
    userClicks: rows(batch.userClicks),
    slice: rows(batch.slice),
    features: Object.fromEntries(Object.entries(batch.features).map(([name, ids]) => [name, rows(ids)])),
    sequences,
  };
}

/** Every typed array of a batch (e.g. the transfer list when posting it to a worker). */
export function batchBuffers(batch: Batch): ArrayBuffer[] {
  const arrays = [
    batch.entity,
    batch.label,
    batch.userKey,
    batch.userClicks,
    batch.slice,
    ...Object.values(batch.features),
    ...Object.values(batch.sequences).flatMap((s) => [s.length, ...Object.values(s.ids)]),
  ];
  return [...new Set(arrays.map((a) => a.buffer as ArrayBuffer))];
}
