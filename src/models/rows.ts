import { tf } from "../engine/index.ts";
import type { EntityName } from "../data/batch.ts";
import type { BatchTensors } from "./inputs.ts";

/** Which rows of a batch a model path reads: one entity's (contiguous, source first) or every row. */
export type RowSet = EntityName | "all";

export function rowRange(batch: BatchTensors, rows: RowSet): { begin: number; size: number } {
  switch (rows) {
    case "all":
      return { begin: 0, size: batch.size };
    case "source":
      return { begin: 0, size: batch.counts.source };
    case "target":
      return { begin: batch.counts.source, size: batch.counts.target };
  }
}

/** A record holding `value` for one entity only (the per-entity inputs of CgcLevel and Ple). */
export function forEntity<E extends EntityName, T>(entity: E, value: T): Record<E, T> {
  return { [entity]: value } as Record<E, T>;
}

export function rowCount(batch: BatchTensors, rows: RowSet): number {
  return rowRange(batch, rows).size;
}

/**
 * The rows of `x` (batch-major) in `rows`, by tf.slice (gather's gradient fails on wasm). Returns `x`
 * itself when the set covers the whole batch, so callers must not dispose the result separately.
 */
export function sliceRows<T extends tf.Tensor>(x: T, batch: BatchTensors, rows: RowSet): T {
  const { begin, size } = rowRange(batch, rows);
  return begin === 0 && size === batch.size ? x : tf.slice(x, begin, size);
}
