import * as tf from "@tensorflow/tfjs";
import { Dense } from "./dense.ts";
import { Mlp } from "./mlp.ts";
import { Module, type ParamInit } from "./params.ts";

export interface DinAttentionOptions {
  /** Width d of the query and of each key. */
  dim: number;
  /** Hidden layers of the activation unit; default [36] (SPEC). */
  hidden?: readonly number[];
}

export interface DinAttentionResult {
  /** Σ_l w_l · v_l: [B, dv]. */
  output: tf.Tensor2D;
  /** w: [B, L], exactly 0 at padding. */
  weights: tf.Tensor2D;
}

/**
 * DIN's local activation unit. Each position's score is MLP(hidden, ReLU) then a linear Dense(1) on
 * [q, k, q−k, q⊙k]. DIN uses PReLU/Dice in the hidden layers; we use ReLU, which is the SPEC's
 * meaning of "MLP [36]". As in DIN, the scores are not softmax-normalised (the sum of weights keeps
 * the intensity of the user's interest); padding positions are multiplied by the mask, so their
 * weight is exactly 0 and their keys and values cannot influence the output.
 */
export class DinAttention extends Module {
  private readonly mlp: Mlp;
  private readonly score: Dense;

  constructor(name: string, init: ParamInit, options: DinAttentionOptions) {
    super(name);
    this.mlp = this.child(new Mlp(this.scoped("mlp"), init, { inputSize: 4 * options.dim, sizes: options.hidden ?? [36] }));
    this.score = this.child(new Dense(this.scoped("score"), init, { inputSize: this.mlp.outputSize, units: 1 }));
  }

  /**
   * query [B, d], keys [B, L, d], mask [B, L] float (1 real, 0 padding), values [B, L, dv]
   * (default: the keys).
   */
  apply(query: tf.Tensor, keys: tf.Tensor, mask: tf.Tensor, values: tf.Tensor = keys): DinAttentionResult {
    const q = tf.broadcastTo(query.expandDims(1), keys.shape);
    const features = tf.concat([q, keys, tf.sub(q, keys), tf.mul(q, keys)], -1);
    const scores = this.score.apply(this.mlp.apply(features)).squeeze([2]);
    const weights = tf.mul(scores, mask) as tf.Tensor2D;
    const output = tf.matMul(weights.expandDims(1) as tf.Tensor3D, values as tf.Tensor3D).squeeze([1]) as tf.Tensor2D;
    return { output, weights };
  }
}
