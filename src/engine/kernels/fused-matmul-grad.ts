/**
 * A gradient for the `_FusedMatMul` kernel (`grad:_FusedMatMul/per-input`), so that Dense can run
 * relu(x · W + b) as one kernel and still get only the gradients it needs. tfjs registers none: its
 * op, tf.fused.matMul, wraps the kernel in tf.customGrad, whose gradient returns every input's at
 * once — for a first layer a full dL/dx of the data batch that nobody reads. A gradient registered
 * per input lets the engine call only those on the path to the variables, as for BatchMatMul.
 *
 * Activations linear and relu. For relu, dy first goes through ReLU's gradient at the kernel's
 * output y (step(relu(x)) = step(x)): MktReluGradSum(dy, y) where the backend has it and the bias
 * runs along the last axis (its column sums are then the bias gradient), else MktReluGrad, else
 * tfjs's formula — the same bits each way. The rest are tfjs's fused.matMul gradient formulas, with
 * broadcast batch and bias dimensions summed back to the input's shape.
 *
 * Registered with the wasm overrides (the gradient registry is global, so it also serves cpu).
 * denseMatMul runs the kernel only while it is registered, else tf.matMul, tf.add (and tf.relu):
 * exactly Dense's computation under --no-kernel-overrides. It always passes a bias (the engine
 * clones every input the gradient saves, and cannot clone a missing one).
 */
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../tf.ts";
import { RELU_GRAD_KERNEL, RELU_GRAD_SUM_KERNEL } from "./relu-grad.ts";

/**
 * Sums `t` over the axes along which `shape` was broadcast to t's shape, then reshapes to `shape`;
 * `t` itself when it has that shape already (so `t` must be a tensor the gradient made, not dy).
 */
function reduceTo(t: tf.Tensor, shape: number[]): tf.Tensor {
  if (tf.util.arraysEqual(t.shape, shape)) return t; // no Reshape kernel call
  const axes = tf.backend_util.getReductionAxes(shape, t.shape);
  return tf.reshape(axes.length > 0 ? tf.sum(t, axes) : t, shape);
}

const MARK = Symbol.for("mkt.fusedMatMulGradient");

/** dy · step(y), as tfjs's Relu gradient computes it: one MktReluGrad kernel where the backend has it. */
function reluBackward(dy: tf.Tensor, y: tf.Tensor): tf.Tensor {
  if (dy.dtype === "float32" && y.dtype === "float32" && tf.getKernel(RELU_GRAD_KERNEL, tf.getBackend()) !== undefined) {
    return tf.engine().runKernel(RELU_GRAD_KERNEL, { dy, x: y }) as tf.Tensor;
  }
  return tf.mul(dy, tf.cast(tf.step(y), "float32"));
}

export const fusedMatMulGradient: TF.GradConfig & { [MARK]: true } = {
  kernelName: "_FusedMatMul",
  // The bias must be there (the engine clones what it saves): denseMatMul always passes one.
  inputsToSave: ["a", "b", "bias"],
  outputsToSave: [true],
  gradFunc: (dyOut, saved, attrs) => {
    const [a, b, bias, y] = saved;
    const activation = attrs["activation"] ?? "linear";
    if (activation !== "linear" && activation !== "relu") throw new Error(`_FusedMatMul gradient (mkt): activation ${String(activation)} is not supported, only linear and relu`);
    if (a === undefined || b === undefined || y === undefined || Array.isArray(dyOut)) throw new Error("_FusedMatMul gradient (mkt): needs a, b, the output and one dy");
    // Once, here: each input's function runs in a tidy of its own, which would dispose a shared dy.
    // With ReLU and a bias over the last axis, MktReluGradSum gives the bias gradient in the same pass.
    let dy: tf.Tensor;
    let biasSums: tf.Tensor | undefined;
    if (activation === "relu" && bias !== undefined && bias.size === y.shape[y.rank - 1] && dyOut.dtype === "float32" && y.dtype === "float32" && tf.getKernel(RELU_GRAD_SUM_KERNEL, tf.getBackend()) !== undefined) {
      [dy, biasSums] = tf.engine().runKernel(RELU_GRAD_SUM_KERNEL, { dy: dyOut, x: y }) as [tf.Tensor, tf.Tensor];
    } else {
      dy = activation === "linear" ? dyOut : reluBackward(dyOut, y);
    }
    const transposeA = attrs["transposeA"] === true;
    const transposeB = attrs["transposeB"] === true;
    const grads: Record<string, () => tf.Tensor> = {
      a: () =>
        reduceTo(
          !transposeA ? tf.matMul(dy, b, false, !transposeB) : !transposeB ? tf.matMul(b, dy, false, true) : tf.matMul(b, dy, true, true),
          a.shape,
        ),
      b: () =>
        reduceTo(
          !transposeB ? (!transposeA ? tf.matMul(a, dy, true, false) : tf.matMul(a, dy, false, false)) : !transposeA ? tf.matMul(dy, a, true, false) : tf.matMul(dy, a, true, true),
          b.shape,
        ),
    };
    if (bias !== undefined) {
      // Never dy itself (the engine disposes the gradients it is handed): summed, or reshaped.
      grads["bias"] = () => {
        if (biasSums !== undefined) return tf.reshape(biasSums, bias.shape);
        const axes = tf.backend_util.getReductionAxes(bias.shape, dy.shape);
        return tf.reshape(axes.length > 0 ? tf.sum(dy, axes) : dy, bias.shape);
      };
    }
    return grads;
  },
  [MARK]: true,
};

/** Whether the registered _FusedMatMul gradient is this one (the wasm overrides are applied). */
export function fusedMatMulGradientActive(): boolean {
  return (tf.getGradient(tf._FusedMatMul) as { [MARK]?: true } | undefined)?.[MARK] === true;
}

/**
 * x [n, in] · kernel [in, out] + bias [out], then ReLU if `relu`: one _FusedMatMul kernel where its
 * gradient above is registered, else tf.add(tf.matMul(x, kernel), bias) (and tf.relu).
 */
export function denseMatMul(x: tf.Tensor2D, kernel: tf.Tensor2D, bias: tf.Tensor, relu = false): tf.Tensor2D {
  if (!fusedMatMulGradientActive()) {
    const y: tf.Tensor2D = tf.add(tf.matMul(x, kernel), bias);
    return relu ? tf.relu(y) : y;
  }
  const [n, k] = x.shape;
  const units = kernel.shape[1];
  // 3-D operands, as tf.fused.matMul hands them to the kernel (the backends' kernels read [batch, rows, cols]).
  const inputs = { a: tf.reshape(x, [1, n, k]), b: tf.reshape(kernel, [1, k, units]), bias };
  const out = tf.engine().runKernel(tf._FusedMatMul, inputs, { transposeA: false, transposeB: false, activation: relu ? "relu" : "linear", leakyreluAlpha: 0 }) as tf.Tensor;
  return tf.reshape(out, [n, units]);
}
