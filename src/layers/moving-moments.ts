import { tf } from "../engine/index.ts";
import type { ForwardMode } from "./mode.ts";
import { Module, type ParamInit } from "./params.ts";

export interface MovingMomentsOptions {
  /** Width of the last axis (one mean and variance per channel). */
  size: number;
  /**
   * Weight of the old value in each moving-average update; default 0.9. With Keras' 0.99 the moving
   * averages of a short run (tens of steps per epoch) would still lean on their start (0 and 1).
   */
  momentum?: number;
}

/**
 * Per-channel mean and variance of a layer's input, as batch normalization keeps them: in "train"
 * mode the batch's (biased) moments over every axis but the last, the moving averages moving toward
 * them (m·moving + (1 − m)·batch); in "predict" mode the moving averages, so that a row's output
 * does not depend on the rest of its batch. The moving averages are state variables (saved with
 * the weights, never trained); gradients flow through the batch moments as in batch normalization.
 */
export class MovingMoments extends Module {
  readonly mean: tf.Variable;
  readonly variance: tf.Variable;
  private readonly momentum: number;

  constructor(name: string, init: ParamInit, options: MovingMomentsOptions) {
    super(name);
    this.momentum = options.momentum ?? 0.9;
    this.mean = this.state("moving_mean", init.zeros([options.size]));
    this.variance = this.state("moving_variance", tf.ones([options.size]));
  }

  /**
   * x [..., size] → mean and variance [size]. `weights` (x's shape without the last axis, e.g. a
   * sequence mask) restricts the batch moments to the positions of weight 1; positions of weight 0
   * (padding) neither count nor receive gradient through them. A batch whose weights are all 0
   * gives moments 0 (and moves the moving averages toward 0).
   */
  moments(x: tf.Tensor, mode: ForwardMode, weights?: tf.Tensor): { mean: tf.Tensor; variance: tf.Tensor } {
    if (mode === "predict") return { mean: this.mean, variance: this.variance };
    const flat = x.reshape([-1, x.shape.at(-1)!]);
    let mean: tf.Tensor;
    let variance: tf.Tensor;
    if (weights === undefined) {
      ({ mean, variance } = tf.moments(flat, 0));
    } else {
      const w = weights.reshape([-1, 1]);
      const count = tf.maximum(tf.sum(w), 1);
      mean = tf.div(tf.sum(tf.mul(flat, w), 0), count);
      variance = tf.div(tf.sum(tf.mul(tf.square(tf.sub(flat, mean)), w), 0), count);
    }
    this.track(mean, variance);
    return { mean, variance };
  }

  /** Moves the moving averages toward a training batch's moments (mean and variance [size]). */
  track(mean: tf.Tensor, variance: tf.Tensor): void {
    // Assignments are not recorded on the gradient tape: the update is a side effect of training.
    const m = this.momentum;
    this.mean.assign(tf.add(tf.mul(this.mean, m), tf.mul(mean, 1 - m)));
    this.variance.assign(tf.add(tf.mul(this.variance, m), tf.mul(variance, 1 - m)));
  }
}
