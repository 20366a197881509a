import { fieldPairProducts, tf } from "../engine/index.ts";
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
    const projected = tf.matMul(fields.reshape([-1, this.dim]), this.w as tf.Tensor2D).reshape(fields.shape);
    // The engine's one kernel where it runs (no transposes or selection products), else tfjs ops.
    return fieldPairProducts(projected, fields) ?? pairProducts(projected, fields);
  }
}

/**
 * left[b, i] ⊙ right[b, j] for the pairs i < j in order, from tfjs ops: the pairs are picked by two
 * constant 0/1 matrices [P, F] applied along the field axis, one matmul each instead of F − 1
 * slices, products and a concat (whose gradients were F − 1 pads and adds: docs/performance.md,
 * "FiBiNet's bilinear pairs"). Picking by 0/1 weights copies values exactly.
 */
export function pairProducts(left: tf.Tensor, right: tf.Tensor): tf.Tensor3D {
  const [, nFields = 0, dim = 0] = left.shape;
  const [leftPicks, rightPicks] = pairSelections(nFields);
  const pairs = leftPicks.shape[0];
  const byField = (t: tf.Tensor) => tf.transpose(t, [1, 0, 2]).reshape([nFields, -1]) as tf.Tensor2D;
  const pick = (selection: tf.Tensor2D, t: tf.Tensor) => tf.matMul(selection, byField(t)).reshape([pairs, -1, dim]);
  return tf.transpose(tf.mul(pick(leftPicks, left), pick(rightPicks, right)), [1, 0, 2]) as tf.Tensor3D;
}

const selections = new Map<number, [Float32Array, Float32Array]>();

/** 0/1 matrices [P, F] picking field i (left) and field j (right) of each pair i < j, in order. */
function pairSelections(fields: number): [tf.Tensor2D, tf.Tensor2D] {
  let s = selections.get(fields);
  const pairs = (fields * (fields - 1)) / 2;
  if (s === undefined) {
    const left = new Float32Array(pairs * fields);
    const right = new Float32Array(pairs * fields);
    for (let i = 0, p = 0; i < fields; i++) {
      for (let j = i + 1; j < fields; j++, p++) {
        left[p * fields + i] = 1;
        right[p * fields + j] = 1;
      }
    }
    s = [left, right];
    selections.set(fields, s);
  }
  return [tf.tensor2d(s[0], [pairs, fields]), tf.tensor2d(s[1], [pairs, fields])];
}
