import { tf } from "./tf.ts";
import { POOLED_ROWS_KERNEL, pooledRowsShapes } from "./kernels/pooled-rows-kernel.ts";
import { mktKernelRuns } from "./tfjs-only.ts";

/**
 * Σ_t mask[b, t] · table[ids[b, t]] [B, E] for ids (int32) and mask (float32) [B, L], from mkt's
 * kernel (pooled-rows-kernel.ts) where it runs (mktKernelRuns) and the shapes suit it, else
 * undefined (the caller looks the rows up and multiplies by the mask). Differentiable in table.
 */
export function pooledRowSums(table: tf.Tensor, ids: tf.Tensor, mask: tf.Tensor): tf.Tensor2D | undefined {
  const suits = table.dtype === "float32" && ids.dtype === "int32" && mask.dtype === "float32" && pooledRowsShapes(table.shape, ids.shape) && tf.util.arraysEqual(ids.shape, mask.shape);
  if (!suits || !mktKernelRuns(POOLED_ROWS_KERNEL)) return undefined;
  return tf.engine().runKernel(POOLED_ROWS_KERNEL, { table, ids, mask }) as tf.Tensor2D;
}
