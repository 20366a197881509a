import { denseMatMul, tf } from "../engine/index.ts";
import { Module, type ParamInit } from "./params.ts";

export type Activation = "relu" | "sigmoid" | "none";

export function activate(x: tf.Tensor, activation: Activation): tf.Tensor {
  switch (activation) {
    case "relu":
      return tf.relu(x);
    case "sigmoid":
      return tf.sigmoid(x);
    case "none":
      return x;
  }
}

export interface DenseOptions {
  inputSize: number;
  units: number;
  /** Default "none" (linear). */
  activation?: Activation;
  /** Default true. */
  bias?: boolean;
}

/**
 * act(x · kernel + bias) for x [n, in]. With the wasm overrides applied the bias and a ReLU are
 * fused into the matmul (engine/kernels/fused-matmul-grad.ts's denseMatMul: one _FusedMatMul
 * kernel; on wasm with OpenBLAS the product, then one SIMD pass in place adding the bias and
 * applying the ReLU, with the bits of the separate Add and Relu kernels; backward, the ReLU's
 * gradient and the bias gradient in one pass), else matMul, add, relu. Other activations, and
 * layers without a bias, take the separate ops.
 */
export function dense(x: tf.Tensor2D, kernel: tf.Tensor2D, bias: tf.Tensor | undefined, activation: Activation): tf.Tensor2D {
  if (bias === undefined) return activate(tf.matMul(x, kernel), activation) as tf.Tensor2D;
  if (activation === "relu") return denseMatMul(x, kernel, bias, true);
  return activate(denseMatMul(x, kernel, bias), activation) as tf.Tensor2D;
}

/** y = act(x W + b); kernel [in, out] glorot-uniform, bias zeros. */
export class Dense extends Module {
  readonly kernel: tf.Variable;
  readonly bias: tf.Variable | undefined;
  readonly activation: Activation;

  constructor(name: string, init: ParamInit, options: DenseOptions) {
    super(name);
    this.activation = options.activation ?? "none";
    this.kernel = this.param("kernel", init.glorotUniform([options.inputSize, options.units]));
    this.bias = options.bias === false ? undefined : this.param("bias", init.zeros([options.units]));
  }

  get inputSize(): number {
    return this.kernel.shape[0]!;
  }

  get units(): number {
    return this.kernel.shape[1]!;
  }

  /** x [..., in] (rank ≥ 2) → [..., out]; leading axes are flattened for one matMul. */
  apply(x: tf.Tensor): tf.Tensor {
    const flat = x.rank === 2 ? (x as tf.Tensor2D) : x.reshape([-1, this.inputSize]) as tf.Tensor2D;
    const y = dense(flat, this.kernel as tf.Tensor2D, this.bias, this.activation);
    return x.rank === 2 ? y : y.reshape([...x.shape.slice(0, -1), this.units]);
  }
}
