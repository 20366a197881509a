import { tf } from "./tf.ts";
import { FIELD_PAIRS_KERNEL, fieldPairsShape } from "./kernels/field-pairs-kernel.ts";
import { mktKernelRuns } from "./tfjs-only.ts";

/**
 * left[b, i] ⊙ right[b, j] for every pair of fields i < j in order, [B, F(F−1)/2, E], for left and
 * right [B, F, E], from mkt's kernel (field-pairs-kernel.ts) where it runs (mktKernelRuns) and the
 * shapes suit it, else undefined (the caller composes tfjs ops). Differentiable in both.
 */
export function fieldPairProducts(left: tf.Tensor, right: tf.Tensor): tf.Tensor3D | undefined {
  const suits = left.dtype === "float32" && right.dtype === "float32" && fieldPairsShape(left.shape) && tf.util.arraysEqual(left.shape, right.shape);
  if (!suits || !mktKernelRuns(FIELD_PAIRS_KERNEL)) return undefined;
  return tf.engine().runKernel(FIELD_PAIRS_KERNEL, { left, right }) as tf.Tensor3D;
}
