import { tf } from "../engine/index.ts";

/**
 * Mean over the real positions of a sequence: x [B, L, d], mask [B, L] float (1 real, 0 padding)
 * → [B, d]. A row without real positions gives zeros (the count is clamped to 1, so never NaN).
 * The masked sum is one batched product [B, 1, L]·[B, L, d] (its gradient another): tfjs's
 * broadcasting Multiply and its Sum gradient (a multiply by ones) took twice the time of the whole
 * pooling this way (docs/performance.md, "Sequence pooling").
 */
export function maskedMeanPool(x: tf.Tensor, mask: tf.Tensor): tf.Tensor2D {
  return meanOfMaskedSums([maskedSum(x, mask)], mask);
}

/** Σ over real positions, x [B, L, d] and mask [B, L] → [B, d]: the batched product [B, 1, L]·[B, L, d]. */
export function maskedSum(x: tf.Tensor, mask: tf.Tensor): tf.Tensor2D {
  const [batch, , width] = x.shape as [number, number, number];
  return tf.matMul(mask.expandDims(1) as tf.Tensor3D, x as tf.Tensor3D).reshape([batch, width]);
}

/**
 * The masked mean of parts [B, L, d_i] concatenated along the last axis, from each part's masked
 * sum (maskedSum, or an embedding's pooledSums) → [B, Σ d_i]. The mean is linear, so the
 * [B, L, Σ d_i] tensor is never built (nor split again in the gradient).
 */
export function meanOfMaskedSums(sums: readonly tf.Tensor2D[], mask: tf.Tensor): tf.Tensor2D {
  const count = tf.maximum(tf.sum(mask, 1, true), 1);
  return tf.div(sums.length === 1 ? sums[0]! : tf.concat(sums as tf.Tensor2D[], 1), count) as tf.Tensor2D;
}
