import { diceTrain, tf } from "../engine/index.ts";
import type { ForwardMode } from "./mode.ts";
import { MovingMoments } from "./moving-moments.ts";
import { Module, type ParamInit } from "./params.ts";

export interface DiceOptions {
  /** Number of channels (the last axis). */
  size: number;
  /** ε under the square root; default 1e-8, the DIN paper's. */
  epsilon?: number;
}

/** How a Dice layer is run: the forward mode, and which positions count in the batch statistics. */
export interface DiceContext {
  mode: ForwardMode;
  /** x's shape without the last axis: 1 for a real position, 0 for padding (default: every position counts). */
  mask?: tf.Tensor;
}

/**
 * DIN's data adaptive activation (Zhou et al. 2018, §5.2): f(s) = p(s)·s + (1 − p(s))·α·s with
 * p(s) = sigmoid((s − E[s]) / sqrt(Var[s] + ε)), per channel, α learned per channel (starting at 0,
 * so f starts as a smooth rectifier centred on the data). As the DIN paper defines it, E[s] and
 * Var[s] are the mini-batch's moments in training and moving averages over the data at inference
 * (MovingMoments): evaluation gives a row the same score whatever batch it is in.
 */
export class Dice extends Module {
  readonly alpha: tf.Variable;
  readonly moments: MovingMoments;
  private readonly epsilon: number;

  constructor(name: string, init: ParamInit, options: DiceOptions) {
    super(name);
    this.epsilon = options.epsilon ?? 1e-8;
    this.alpha = this.param("alpha", init.zeros([options.size]));
    this.moments = this.child(new MovingMoments(this.scoped("moments"), init, { size: options.size }));
  }

  /** s [..., size] → f(s), same shape. */
  apply(s: tf.Tensor, context: DiceContext): tf.Tensor {
    // In training, the engine's fused kernels where it has them (the same formula; batch moments in float64).
    const fused = context.mode === "train" ? diceTrain(s, this.alpha as tf.Tensor1D, context.mask, this.epsilon) : undefined;
    if (fused !== undefined) {
      const [output, mean, variance] = fused;
      this.moments.track(mean, variance);
      return output;
    }
    const { mean, variance } = this.moments.moments(s, context.mode, context.mask);
    const p = tf.sigmoid(tf.div(tf.sub(s, mean), tf.sqrt(tf.add(variance, this.epsilon))));
    // p·s + (1 − p)·α·s = s·(α + p·(1 − α)).
    return tf.mul(s, tf.add(this.alpha, tf.mul(p, tf.sub(1, this.alpha))));
  }
}
