import { tf } from "../engine/index.ts";
import { Dense } from "./dense.ts";
import { Mlp, type HiddenActivation } from "./mlp.ts";
import type { ForwardMode } from "./mode.ts";
import { Module, type ParamInit } from "./params.ts";

export interface DinAttentionOptions {
  /** Width d of the query and of each key. */
  dim: number;
  /** Hidden layers of the activation unit; default [36] (SPEC). */
  hidden?: readonly number[];
  /**
   * Activation of the hidden layers: "relu" (default; MKT's sequence encoder, the SPEC's "MLP [36]")
   * or "dice" (the DIN paper's, for the DIN baseline; its batch statistics are over real elements).
   */
  activation?: "relu" | "dice";
}

export interface DinAttentionResult {
  /** Σ_l w_l · v_l: [B, dv]. */
  output: tf.Tensor2D;
  /** w: [B, L], exactly 0 at padding. */
  weights: tf.Tensor2D;
}

/**
 * DIN's local activation unit. Each position's score is MLP(hidden) then a linear Dense(1) on
 * [q, k, q−k, q⊙k]. The hidden activation is ReLU (the SPEC's "MLP [36]", MKT's encoder) or Dice
 * (the DIN paper's PReLU/Dice, for the DIN baseline); Dice's batch statistics count real elements
 * only, so padding influences nothing. As in DIN, the scores are not softmax-normalised (the sum of
 * weights keeps the intensity of the user's interest); padding positions are multiplied by the
 * mask, so their weight is exactly 0 and their keys and values cannot influence the output.
 */
export class DinAttention extends Module {
  private readonly mlp: Mlp;
  private readonly score: Dense;

  constructor(name: string, init: ParamInit, options: DinAttentionOptions) {
    super(name);
    const activation: HiddenActivation = options.activation ?? "relu";
    this.mlp = this.child(new Mlp(this.scoped("mlp"), init, { inputSize: 4 * options.dim, sizes: options.hidden ?? [36], activation }));
    this.score = this.child(new Dense(this.scoped("score"), init, { inputSize: this.mlp.outputSize, units: 1 }));
  }

  /**
   * query [B, d], keys [B, L, d], mask [B, L] float (1 real, 0 padding), values [B, L, dv]
   * (default: the keys). `mode` is required with Dice (batch or moving statistics), ignored with ReLU.
   */
  apply(query: tf.Tensor, keys: tf.Tensor, mask: tf.Tensor, values: tf.Tensor = keys, mode?: ForwardMode): DinAttentionResult {
    const scores = this.score.apply(this.hidden(query, keys, mask, mode)).squeeze([2]);
    const weights = tf.mul(scores, mask) as tf.Tensor2D;
    const output = tf.matMul(weights.expandDims(1) as tf.Tensor3D, values as tf.Tensor3D).squeeze([1]) as tf.Tensor2D;
    return { output, weights };
  }

  /**
   * The activation unit's hidden output [B, L, h] for the input [q, k, q−k, q⊙k]. The first layer is
   * computed without materialising that input: with its kernel split by rows into Wq, Wk, Wd, Wp,
   * [q, k, q−k, q⊙k]·W = q·(Wq + Wd) + k·(Wk − Wd) + (q⊙k)·Wp, where the query's term is computed
   * once per row and broadcast over L. Same parameters and values as the concatenated form (the
   * test checks it); it avoids tiling the query L times, whose gradient is L slices and adds.
   */
  hidden(query: tf.Tensor, keys: tf.Tensor, mask: tf.Tensor, mode?: ForwardMode): tf.Tensor {
    const first = this.mlp.layers[0];
    if (first === undefined) throw new Error(`${this.name}: the activation unit needs a hidden layer`);
    const [batch, length, dim] = keys.shape as [number, number, number];
    const [wq, wk, wd, wp] = tf.split(first.kernel, 4, 0) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
    const flatKeys = keys.reshape([-1, dim]) as tf.Tensor2D;
    const products = tf.mul(query.expandDims(1), keys).reshape([-1, dim]) as tf.Tensor2D;
    const perKey = tf.add(tf.matMul(flatKeys, tf.sub(wk, wd)), tf.matMul(products, wp)).reshape([batch, length, first.units]);
    // The bias joins the query's term [B, h] before the broadcast: one pass over [B, L, h] fewer,
    // forward and backward (its gradient sums [B, h] instead of [B·L, h]).
    let perRow: tf.Tensor = tf.matMul(query as tf.Tensor2D, tf.add(wq, wd));
    if (first.bias !== undefined) perRow = tf.add(perRow, first.bias);
    const pre = tf.add(perKey, perRow.expandDims(1));
    const context = mode === undefined ? undefined : { mode, mask };
    let h = this.mlp.activate(0, pre, context);
    for (let l = 1; l < this.mlp.layers.length; l++) h = this.mlp.layer(l, h, context);
    return h;
  }
}
