import type * as tf from "@tensorflow/tfjs";
import { activate, Dense, type Activation } from "./dense.ts";
import { Dice, type DiceContext } from "./dice.ts";
import { Module, type ParamInit } from "./params.ts";

/** A hidden layer's activation: a Dense activation, or DIN's Dice (a layer with batch statistics). */
export type HiddenActivation = Activation | "dice";

export interface MlpOptions {
  inputSize: number;
  /** Units per layer, e.g. [1024, 512]. */
  sizes: readonly number[];
  /** Applied after every layer, the last included (SPEC: "MLP [a, b] = Dense(a)+ReLU, Dense(b)+ReLU"). Default relu. */
  activation?: HiddenActivation;
}

/**
 * A stack of Dense layers `dense0, dense1, …`, all with the same activation. With Dice, layer l is a
 * linear Dense followed by the Dice layer `dice<l>`, and apply() needs a DiceContext.
 */
export class Mlp extends Module {
  /** Exposed so that models can tap hidden outputs (e.g. CTNet's per-layer adapters). */
  readonly layers: readonly Dense[];
  readonly outputSize: number;
  private readonly dice: readonly Dice[] | undefined;

  constructor(name: string, init: ParamInit, options: MlpOptions) {
    super(name);
    const activation = options.activation ?? "relu";
    let inputSize = options.inputSize;
    this.layers = options.sizes.map((units, i) => {
      const layer = new Dense(this.scoped(`dense${i}`), init, { inputSize, units, activation: activation === "dice" ? "none" : activation });
      inputSize = units;
      return this.child(layer);
    });
    if (activation === "dice") this.dice = options.sizes.map((units, i) => this.child(new Dice(this.scoped(`dice${i}`), init, { size: units })));
    this.outputSize = inputSize;
  }

  /** x [..., in] → [..., sizes.at(-1)] (x itself when sizes is empty). `context` is required with Dice. */
  apply(x: tf.Tensor, context?: DiceContext): tf.Tensor {
    return this.layers.reduce((h, _, l) => this.layer(l, h, context), x);
  }

  /** Layer l (0-based) on x. */
  layer(l: number, x: tf.Tensor, context?: DiceContext): tf.Tensor {
    const dense = this.layers[l]!;
    return this.dice === undefined ? dense.apply(x) : this.activate(l, dense.apply(x), context);
  }

  /** Layer l's activation on its pre-activation x·W + b (for callers that compute that product themselves). */
  activate(l: number, pre: tf.Tensor, context?: DiceContext): tf.Tensor {
    if (this.dice === undefined) return activate(pre, this.layers[l]!.activation);
    if (context === undefined) throw new Error(`${this.name}: a Dice layer needs the forward mode`);
    return this.dice[l]!.apply(pre, context);
  }
}
