import { tf } from "../engine/index.ts";
import { Dense } from "./dense.ts";
import { Module, type ParamInit } from "./params.ts";

export interface SenetOptions {
  /** Number of fields F. */
  fields: number;
  /** Default 3 (SPEC); the bottleneck has max(1, ⌊F / ratio⌋) units. */
  reductionRatio?: number;
}

export interface SenetResult {
  /** Fields reweighted by their weights: [B, F, E]. */
  output: tf.Tensor3D;
  /** [B, F]. */
  weights: tf.Tensor2D;
}

/**
 * FiBiNet's SENET layer: squeeze each field embedding to its mean, excite with two bias-free
 * layers both followed by ReLU (as in the FiBiNet paper and DeepCTR's SENETLayer, so weights are ≥ 0
 * and unbounded, unlike the sigmoid of the original SE block), then rescale each field.
 */
export class Senet extends Module {
  private readonly reduce: Dense;
  private readonly expand: Dense;

  constructor(name: string, init: ParamInit, options: SenetOptions) {
    super(name);
    const reduced = Math.max(1, Math.floor(options.fields / (options.reductionRatio ?? 3)));
    this.reduce = this.child(
      new Dense(this.scoped("reduce"), init, { inputSize: options.fields, units: reduced, activation: "relu", bias: false }),
    );
    this.expand = this.child(
      new Dense(this.scoped("expand"), init, { inputSize: reduced, units: options.fields, activation: "relu", bias: false }),
    );
  }

  /** fields [B, F, E]. */
  apply(fields: tf.Tensor): SenetResult {
    const squeezed = tf.mean(fields, 2);
    const weights = this.expand.apply(this.reduce.apply(squeezed)) as tf.Tensor2D;
    return { output: tf.mul(fields, weights.expandDims(2)) as tf.Tensor3D, weights };
  }
}
