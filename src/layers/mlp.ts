import * as tf from "@tensorflow/tfjs";
import { Dense, type Activation } from "./dense.ts";
import { Module, type ParamInit } from "./params.ts";

export interface MlpOptions {
  inputSize: number;
  /** Units per layer, e.g. [1024, 512]. */
  sizes: readonly number[];
  /** Applied after every layer, the last included (SPEC: "MLP [a, b] = Dense(a)+ReLU, Dense(b)+ReLU"). Default relu. */
  activation?: Activation;
}

/** A stack of Dense layers `dense0, dense1, …`, all with the same activation. */
export class Mlp extends Module {
  /** Exposed so that models can tap hidden outputs (e.g. CTNet's per-layer adapters). */
  readonly layers: readonly Dense[];
  readonly outputSize: number;

  constructor(name: string, init: ParamInit, options: MlpOptions) {
    super(name);
    let inputSize = options.inputSize;
    this.layers = options.sizes.map((units, i) => {
      const layer = new Dense(this.scoped(`dense${i}`), init, { inputSize, units, activation: options.activation ?? "relu" });
      inputSize = units;
      return this.child(layer);
    });
    this.outputSize = inputSize;
  }

  /** x [..., in] → [..., sizes.at(-1)] (x itself when sizes is empty). */
  apply(x: tf.Tensor): tf.Tensor {
    return this.layers.reduce((h, layer) => layer.apply(h), x);
  }
}
