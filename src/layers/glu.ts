import { tf } from "../engine/index.ts";
import { Dense } from "./dense.ts";
import { Module, type ParamInit } from "./params.ts";

export interface GluOptions {
  inputSize: number;
  /** Sized to the TEM counterpart the gated vector is added to. */
  outputSize: number;
}

/** GLU(x) = (W_a x + b_a) ⊙ sigmoid(W_b x + b_b): MKT's gate on knowledge transferred from MEM. */
export class Glu extends Module {
  private readonly value: Dense;
  private readonly gate: Dense;

  constructor(name: string, init: ParamInit, options: GluOptions) {
    super(name);
    const dense = { inputSize: options.inputSize, units: options.outputSize };
    this.value = this.child(new Dense(this.scoped("value"), init, dense));
    this.gate = this.child(new Dense(this.scoped("gate"), init, { ...dense, activation: "sigmoid" }));
  }

  /** x [..., in] → [..., out]. */
  apply(x: tf.Tensor): tf.Tensor {
    return tf.mul(this.value.apply(x), this.gate.apply(x));
  }
}
