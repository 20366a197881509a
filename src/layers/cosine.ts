import { tf } from "../engine/index.ts";

/**
 * Row-wise cosine similarity a [B, d], b [B, d] → [B]. Norms are sqrt(Σx² + eps): finite, with a
 * finite gradient, at zero vectors (where the similarity is 0), and negligibly different otherwise.
 */
export function cosineSimilarity(a: tf.Tensor, b: tf.Tensor, eps = 1e-8): tf.Tensor1D {
  const dot = tf.sum(tf.mul(a, b), -1);
  const norm = (x: tf.Tensor): tf.Tensor => tf.sqrt(tf.add(tf.sum(tf.square(x), -1), eps));
  return tf.div(dot, tf.mul(norm(a), norm(b))) as tf.Tensor1D;
}
