import * as tf from "@tensorflow/tfjs";
import { Module, type ParamInit } from "./params.ts";

export interface BilinearOptions {
  /** Embedding size E. */
  dim: number;
}

/**
 * FiBiNet's bilinear interaction, "field-all" type: one W [E, E] shared by every pair,
 * p_ij = (v_i W) ⊙ v_j for i < j, pairs in order (0,1), (0,2), …, (1,2), …
 */
export class BilinearInteraction extends Module {
  private readonly w: tf.Variable;
  private readonly dim: number;

  constructor(name: string, init: ParamInit, options: BilinearOptions) {
    super(name);
    this.dim = options.dim;
    this.w = this.param("w", init.glorotUniform([options.dim, options.dim]));
  }

  /** fields [B, F, E] (F ≥ 2) → [B, F(F−1)/2, E]. */
  apply(fields: tf.Tensor): tf.Tensor3D {
    const nFields = fields.shape[1] ?? 0;
    const projected = tf.matMul(fields.reshape([-1, this.dim]), this.w as tf.Tensor2D).reshape(fields.shape);
    // Slices instead of a pair-index gather: gather's gradient is not available on the wasm backend.
    const blocks: tf.Tensor[] = [];
    for (let i = 0; i < nFields - 1; i++) {
      const left = tf.slice(projected, [0, i, 0], [-1, 1, -1]);
      const right = tf.slice(fields, [0, i + 1, 0], [-1, -1, -1]);
      blocks.push(tf.mul(left, right));
    }
    return tf.concat(blocks, 1) as tf.Tensor3D;
  }
}
