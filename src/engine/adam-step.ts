import { tf } from "./tf.ts";
import { ADAM_KERNEL, type AdamAttrs } from "./kernels/adam-kernel.ts";

export type { AdamAttrs };

/**
 * One Adam update of a variable: [param', m', v'] by tfjs's formula. The fused MktAdam kernel runs
 * it where the active backend has it (one pass instead of ~12 elementwise kernels), tfjs ops otherwise.
 */
export function adamStep(param: tf.Tensor, m: tf.Tensor, v: tf.Tensor, grad: tf.Tensor, a: AdamAttrs): tf.Tensor[] {
  if (tf.getKernel(ADAM_KERNEL, tf.getBackend()) !== undefined) {
    return tf.engine().runKernel(ADAM_KERNEL, { param, m, v, grad } as unknown as tf.NamedTensorMap, a as unknown as tf.NamedAttrMap) as tf.Tensor[];
  }
  const m1 = tf.add(tf.mul(m, a.beta1), tf.mul(grad, 1 - a.beta1));
  const v1 = tf.add(tf.mul(v, a.beta2), tf.mul(tf.square(grad), 1 - a.beta2));
  const step = tf.div(tf.div(m1, a.correction1), tf.add(tf.sqrt(tf.div(v1, a.correction2)), a.epsilon));
  return [tf.sub(param, tf.mul(step, a.learningRate)), m1, v1];
}
