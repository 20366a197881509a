import { tf } from "../engine/index.ts";

/**
 * Mean over the real positions of a sequence: x [B, L, d], mask [B, L] float (1 real, 0 padding)
 * → [B, d]. A row without real positions gives zeros (the count is clamped to 1, so never NaN).
 * The masked sum is one batched product [B, 1, L]·[B, L, d] (its gradient another): tfjs's
 * broadcasting Multiply and its Sum gradient (a multiply by ones) took twice the time of the whole
 * pooling this way (docs/performance.md, "Sequence pooling").
 */
export function maskedMeanPool(x: tf.Tensor, mask: tf.Tensor): tf.Tensor2D {
  return maskedMeanPoolParts([x], mask);
}

/**
 * maskedMeanPool of the parts' concatenation along the last axis (parts [B, L, d_i] → [B, Σ d_i]),
 * pooled part by part: the mean is linear, so the [B, L, Σ d_i] tensor is never built (nor split
 * again in the gradient). Each sum is the same products in the same order: the same values.
 */
export function maskedMeanPoolParts(parts: readonly tf.Tensor[], mask: tf.Tensor): tf.Tensor2D {
  const weights = mask.expandDims(1) as tf.Tensor3D;
  const sums = parts.map((x) => {
    const [batch, , width] = x.shape as [number, number, number];
    return tf.matMul(weights, x as tf.Tensor3D).reshape([batch, width]);
  });
  const count = tf.maximum(tf.sum(mask, 1, true), 1);
  return tf.div(sums.length === 1 ? sums[0]! : tf.concat(sums, 1), count) as tf.Tensor2D;
}
