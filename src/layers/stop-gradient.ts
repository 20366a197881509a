import { tf } from "../engine/index.ts";

/**
 * Identity in the forward pass, zero gradient backwards (tfjs has no tf.stopGradient). Used where a
 * frozen model's outputs feed a trained one: even if the frozen variables were made trainable again,
 * no gradient would flow into them through this edge.
 */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const input = args[0] as tf.Tensor;
    return { value: tf.clone(input), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
  });
  return op(x) as T;
}
