/** The dimensions of a (batched) matmul as the mkt matmul kernels run it. */
import type * as tf from "@tensorflow/tfjs";

/** Matrices in a batch: the product of every dimension but the last two. */
export function batchSize(shape: readonly number[]): number {
  return shape.slice(0, -2).reduce((n, d) => n * d, 1);
}

export interface MatMulPlan {
  m: number;
  n: number;
  k: number;
  batch: number;
  /** Matrix strides per batch step (0: the one matrix serves every batch). */
  strideA: number;
  strideB: number;
  outShape: number[];
}

/**
 * A float32 product's dimensions, batch and strides; undefined for other dtypes, ranks below 2 and
 * batch shapes that broadcast other than "equal" or "one side has a single matrix".
 */
export function matmulPlan(a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean): MatMulPlan | undefined {
  if (a.dtype !== "float32" || b.dtype !== "float32" || a.shape.length < 2 || b.shape.length < 2) return undefined;
  const [ra, ca] = a.shape.slice(-2) as [number, number];
  const [rb, cb] = b.shape.slice(-2) as [number, number];
  const m = transposeA ? ca : ra;
  const k = transposeA ? ra : ca;
  const n = transposeB ? rb : cb;
  // k = 0 (an empty batch's weight gradient) is planned too: the product is zeros, which wasm's own
  // kernel does not write (it returns uninitialized memory).
  if ((transposeB ? cb : rb) !== k || m === 0 || n === 0) return undefined;
  const batchA = batchSize(a.shape);
  const batchB = batchSize(b.shape);
  const outer = (batchA >= batchB ? a : b).shape.slice(0, -2);
  const sameBatch = batchA === batchB && a.shape.length === b.shape.length && a.shape.slice(0, -2).every((d, i) => d === b.shape[i]);
  if (!sameBatch && batchA !== 1 && batchB !== 1) return undefined;
  const batch = Math.max(batchA, batchB);
  return { m, n, k, batch, strideA: batchA === 1 ? 0 : m * k, strideB: batchB === 1 ? 0 : k * n, outShape: [...outer, m, n] };
}
