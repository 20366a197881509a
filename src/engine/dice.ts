import { tf } from "./tf.ts";
import { DICE_KERNEL, diceKernelShape } from "./kernels/dice-kernel.ts";
import { mktKernelRuns } from "./tfjs-only.ts";

/**
 * Dice in training mode (dice-kernel.ts) on s [..., n], its batch statistics over the positions
 * where `mask` (s's shape without the last axis) is 1, or over all: [y (s's shape), batch mean,
 * batch variance] from mkt's kernel where the active backend has it and n suits it, else undefined
 * (the caller composes it from tfjs ops). Differentiable in s and alpha.
 */
export function diceTrain(s: tf.Tensor, alpha: tf.Tensor1D, mask: tf.Tensor | undefined, epsilon: number): [tf.Tensor, tf.Tensor1D, tf.Tensor1D] | undefined {
  const n = s.shape.at(-1) ?? 0;
  const rows = n === 0 ? 0 : s.size / n;
  if (s.dtype !== "float32" || !diceKernelShape([rows, n]) || !mktKernelRuns(DICE_KERNEL)) return undefined;
  const w = mask === undefined ? tf.ones([rows]) : tf.cast(mask.reshape([rows]), "float32");
  const [y, mean, variance] = tf.engine().runKernel(DICE_KERNEL, { x: s.reshape([rows, n]), alpha, w }, { epsilon }) as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
  return [y.reshape(s.shape), mean, variance];
}
