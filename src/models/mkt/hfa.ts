import { tf } from "../../engine/index.ts";
import { CrossNetwork } from "../../layers/cross-network.ts";
import { Dense } from "../../layers/dense.ts";
import { Module, type ParamInit } from "../../layers/params.ts";

export interface HfaOptions {
  /** n_spec^e: number of the entity's specific features. */
  fields: number;
  /** E. */
  dim: number;
  /** d_HFA: width of the aligned vector (sizes.hfa_dim). */
  outputSize: number;
  /** Cross-network depth (sizes.hfa_cross_layers); default 2. */
  crossLayers?: number;
  /** false: the w/o HFA ablation, aligned = ReLU(FC(flatten(v_spec))) with no crosses and no importance. */
  enabled?: boolean;
}

export interface HfaResult {
  /** aligned^e [n, d_HFA]. */
  aligned: tf.Tensor2D;
  /** p^e ∈ (0, 2) per specific feature [n, n_spec^e]; absent when HFA is disabled. */
  importance?: tf.Tensor2D;
}

/**
 * Heterogeneous feature alignment of one entity (SPEC §2, paper eq. 3–8). From x0 = flatten(v_spec):
 * explicit part = cross network, implicit part = ReLU(W x0 + b) of width n_spec·E (the paper gives no
 * size; x0's width keeps both parts equally wide); p = 2·sigmoid(FC(concat)) scales each specific
 * feature's embedding row; the scaled rows, flattened, go through ReLU(FC_{d_HFA}), which maps every
 * entity's schema to the same width.
 */
export class Hfa extends Module {
  readonly outputSize: number;
  /** n_spec·E, the width of flatten(v_spec). */
  private readonly width: number;
  private readonly selection: { cross: CrossNetwork; implicit: Dense; importance: Dense } | undefined;
  private readonly align: Dense;

  constructor(name: string, init: ParamInit, options: HfaOptions) {
    super(name);
    if (options.fields < 1) throw new Error(`${name}: HFA needs at least one entity-specific feature`);
    this.outputSize = options.outputSize;
    const width = options.fields * options.dim;
    this.width = width;
    if (options.enabled !== false) {
      this.selection = {
        cross: this.child(new CrossNetwork(this.scoped("cross"), init, { inputSize: width, layers: options.crossLayers ?? 2 })),
        implicit: this.child(new Dense(this.scoped("implicit"), init, { inputSize: width, units: width, activation: "relu" })),
        importance: this.child(new Dense(this.scoped("importance"), init, { inputSize: 2 * width, units: options.fields })),
      };
    }
    this.align = this.child(
      new Dense(this.scoped("align"), init, { inputSize: width, units: options.outputSize, activation: "relu" }),
    );
  }

  /** vSpec [n, n_spec, E] → aligned (and importance). */
  apply(vSpec: tf.Tensor3D): HfaResult {
    const n = vSpec.shape[0];
    const x0 = vSpec.reshape([n, this.width]) as tf.Tensor2D;
    if (this.selection === undefined) return { aligned: this.align.apply(x0) as tf.Tensor2D };
    const { cross, implicit, importance } = this.selection;
    const interactions = tf.concat([cross.apply(x0), implicit.apply(x0)], 1);
    const p = tf.mul(tf.sigmoid(importance.apply(interactions)), 2) as tf.Tensor2D;
    const scaled = tf.mul(vSpec, p.expandDims(2)).reshape([n, this.width]);
    return { aligned: this.align.apply(scaled) as tf.Tensor2D, importance: p };
  }
}
