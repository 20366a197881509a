import type * as tf from "@tensorflow/tfjs";
import { Dense } from "./dense.ts";
import type { DiceContext } from "./dice.ts";
import { Mlp, type HiddenActivation } from "./mlp.ts";
import { Module, type ParamInit } from "./params.ts";

export interface TowerOptions {
  inputSize: number;
  /** Hidden layers before the logit; default [64], i.e. the SPEC's "tower [64, 1]". */
  hidden?: readonly number[];
  /** Activation of the hidden layers; default relu. */
  activation?: HiddenActivation;
}

/** Hidden layers (ReLU unless told) then Dense(1) without activation: one logit per row. */
export class Tower extends Module {
  private readonly hidden: Mlp;
  private readonly out: Dense;

  constructor(name: string, init: ParamInit, options: TowerOptions) {
    super(name);
    this.hidden = this.child(
      new Mlp(this.scoped("hidden"), init, { inputSize: options.inputSize, sizes: options.hidden ?? [64], activation: options.activation }),
    );
    this.out = this.child(new Dense(this.scoped("logit"), init, { inputSize: this.hidden.outputSize, units: 1 }));
  }

  /** x [B, in] → logits [B] (rank 1, to match labels [B] in the BCE loss). `context` is required with Dice. */
  apply(x: tf.Tensor, context?: DiceContext): tf.Tensor1D {
    return this.out.apply(this.hidden.apply(x, context)).reshape([-1]) as tf.Tensor1D;
  }
}
