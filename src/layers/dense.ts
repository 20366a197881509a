import * as tf from "@tensorflow/tfjs";
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

/** y = act(x W + b); kernel [in, out] glorot-uniform, bias zeros. */
export class Dense extends Module {
  readonly kernel: tf.Variable;
  readonly bias: tf.Variable | undefined;
  readonly inputSize: number;
  readonly units: number;
  readonly activation: Activation;

  constructor(name: string, init: ParamInit, options: DenseOptions) {
    super(name);
    this.inputSize = options.inputSize;
    this.units = options.units;
    this.activation = options.activation ?? "none";
    this.kernel = this.param("kernel", init.glorotUniform([options.inputSize, options.units]));
    this.bias = options.bias === false ? undefined : this.param("bias", init.zeros([options.units]));
  }

  /** x [..., in] (rank ≥ 2) → [..., out]; leading axes are flattened for one matMul. */
  apply(x: tf.Tensor): tf.Tensor {
    const flat = x.rank === 2 ? (x as tf.Tensor2D) : x.reshape([-1, this.inputSize]) as tf.Tensor2D;
    let y: tf.Tensor = tf.matMul(flat, this.kernel as tf.Tensor2D);
    if (this.bias !== undefined) y = tf.add(y, this.bias);
    y = activate(y, this.activation);
    return x.rank === 2 ? y : y.reshape([...x.shape.slice(0, -1), this.units]);
  }
}
