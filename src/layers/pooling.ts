import { tf } from "../engine/index.ts";

/**
 * Mean over the real positions of a sequence: x [B, L, d], mask [B, L] float (1 real, 0 padding)
 * → [B, d]. A row without real positions gives zeros (the count is clamped to 1, so never NaN).
 * The masked sum is one batched product [B, 1, L]·[B, L, d] (its gradient another): tfjs's
 * broadcasting Multiply and its Sum gradient (a multiply by ones) took twice the time of the whole
 * pooling this way (docs/performance.md, "Sequence pooling").
 */
export function maskedMeanPool(x: tf.Tensor, mask: tf.Tensor): tf.Tensor2D {
  const [batch, , width] = x.shape as [number, number, number];
  const sum = tf.matMul(mask.expandDims(1) as tf.Tensor3D, x as tf.Tensor3D).reshape([batch, width]);
  const count = tf.maximum(tf.sum(mask, 1, true), 1);
  return tf.div(sum, count) as tf.Tensor2D;
}
