import { tf } from "../engine/index.ts";
import { Module, type ParamInit } from "./params.ts";

export interface CrossNetworkOptions {
  inputSize: number;
  /** Default 2 (SPEC, HFA). */
  layers?: number;
}

/** DCN cross network: x_{l+1} = x_0 (x_lᵀ w_l) + b_l + x_l, with w_l, b_l ∈ R^D. */
export class CrossNetwork extends Module {
  private readonly layers: Array<{ w: tf.Variable; b: tf.Variable }> = [];

  constructor(name: string, init: ParamInit, options: CrossNetworkOptions) {
    super(name);
    for (let l = 0; l < (options.layers ?? 2); l++) {
      const w = this.param(`w${l}`, init.glorotUniform([options.inputSize, 1]));
      this.layers.push({ w, b: this.param(`b${l}`, init.zeros([options.inputSize])) });
    }
  }

  /** x0 [B, D] → [B, D]. */
  apply(x0: tf.Tensor): tf.Tensor2D {
    let x = x0 as tf.Tensor2D;
    for (const { w, b } of this.layers) {
      const xw = tf.matMul(x, w as tf.Tensor2D); // [B, 1]: the scalar x_lᵀ w_l of each row
      x = tf.add(tf.add(tf.mul(x0, xw), b), x);
    }
    return x;
  }
}
