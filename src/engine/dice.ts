import { tf } from "./tf.ts";
import { DICE_KERNEL, diceKernelShape } from "./kernels/dice-kernel.ts";

/**
 * Dice in training mode on x [rows, n] with row weights w [rows] (dice-kernel.ts): [y, batch mean,
 * batch variance] from mkt's kernel where the active backend has it and x's shape suits it, else
 * undefined (the caller composes it from tfjs ops). Differentiable in x and alpha.
 */
export function diceTrain(x: tf.Tensor2D, alpha: tf.Tensor1D, w: tf.Tensor1D, epsilon: number): [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D] | undefined {
  if (x.dtype !== "float32" || !diceKernelShape(x.shape) || tf.getKernel(DICE_KERNEL, tf.getBackend()) === undefined) return undefined;
  return tf.engine().runKernel(DICE_KERNEL, { x, alpha, w }, { epsilon }) as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
}
