import { tf } from "../engine/index.ts";

/**
 * Mean over the real positions of a sequence: x [B, L, d], mask [B, L] float (1 real, 0 padding)
 * → [B, d]. A row without real positions gives zeros (the count is clamped to 1, so never NaN).
 */
export function maskedMeanPool(x: tf.Tensor, mask: tf.Tensor): tf.Tensor2D {
  const sum = tf.sum(tf.mul(x, mask.expandDims(2)), 1);
  const count = tf.maximum(tf.sum(mask, 1, true), 1);
  return tf.div(sum, count) as tf.Tensor2D;
}
