import { tf } from "./tf.ts";
import { POOLED_ROWS_KERNEL, pooledRowsShapes } from "./kernels/pooled-rows-kernel.ts";
import { mktKernelsAllowed } from "./tfjs-only.ts";

/**
 * Σ_t mask[b, t] · table[ids[b, t]] [B, E] for ids (int32) and mask (float32) [B, L], from mkt's
 * kernel (pooled-rows-kernel.ts) where the active backend has it, the shapes suit it and no
 * withTfjsKernelsOnly scope is open, else
 * undefined (the caller looks the rows up and multiplies by the mask). Differentiable in table.
 */
export function pooledRowSums(table: tf.Tensor, ids: tf.Tensor, mask: tf.Tensor): tf.Tensor2D | undefined {
  if (!mktKernelsAllowed() || table.dtype !== "float32" || ids.dtype !== "int32" || mask.dtype !== "float32" || !pooledRowsShapes(table.shape, ids.shape)) return undefined;
  if (!tf.util.arraysEqual(ids.shape, mask.shape) || tf.getKernel(POOLED_ROWS_KERNEL, tf.getBackend()) === undefined) return undefined;
  return tf.engine().runKernel(POOLED_ROWS_KERNEL, { table, ids, mask }) as tf.Tensor2D;
}
