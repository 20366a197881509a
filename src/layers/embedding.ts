import { pooledRowSums, tf } from "../engine/index.ts";
import { maskedSum } from "./pooling.ts";
import { Module, type ParamInit } from "./params.ts";

export interface EmbeddingOptions {
  vocab: number;
  dim: number;
  /** Initial values are uniform in ±initLimit (default 0.05). */
  initLimit?: number;
}

/**
 * Gathers rows of `table` at `ids` (int32, rank 1) with a hand-written gradient: the upstream rows
 * scattered into a dense [vocab, E] tensor. tf.gather's own gradient needs UnsortedSegmentSum,
 * which the wasm backend does not register, and on the cpu backend loops once per table row.
 * scatterND adds duplicate indices, which is exactly the gradient of a gather.
 */
function gatherRows(table: tf.Tensor2D, ids: tf.Tensor1D): tf.Tensor2D {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const tableArg = args[0] as tf.Tensor2D;
    const save = args[1] as tf.GradSaveFunc;
    // Saved, not captured: the forward scope disposes captured tensors before backprop runs.
    save([ids]);
    return {
      value: tf.gather(tableArg, ids),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const savedIds = saved[0] as tf.Tensor1D;
        return tf.scatterND(savedIds.expandDims(1), dy, tableArg.shape);
      },
    };
  });
  return op(table) as tf.Tensor2D;
}

/** One embedding table [vocab, E]. Id 0 (padding) is an ordinary row; consumers apply masks. */
export class Embedding extends Module {
  readonly table: tf.Variable;
  readonly dim: number;

  constructor(name: string, init: ParamInit, { vocab, dim, initLimit = 0.05 }: EmbeddingOptions) {
    super(name);
    this.dim = dim;
    this.table = this.param("table", init.uniform([vocab, dim], initLimit));
  }

  /** ids: int32 of any shape → [...ids.shape, E]. */
  lookup(ids: tf.Tensor): tf.Tensor {
    const rows = gatherRows(this.table as tf.Tensor2D, ids.reshape([-1]) as tf.Tensor1D);
    return rows.reshape([...ids.shape, this.dim]);
  }

  /**
   * Σ_t mask[b, t] · row(ids[b, t]): ids and mask [B, L] → [B, E], the masked sum of mean pooling,
   * by the engine's pooledRowSums where it runs (no [B, L, E] of looked-up rows), else looked up
   * and summed; the same values either way on wasm with mkt's kernels.
   */
  pooledSums(ids: tf.Tensor, mask: tf.Tensor): tf.Tensor2D {
    return pooledRowSums(this.table, ids, mask) ?? maskedSum(this.lookup(ids), mask);
  }
}

export interface EmbeddingGroupOptions {
  dim: number;
  /** Feature name → vocabulary size; the insertion order is the default field order. */
  vocab: Record<string, number>;
  initLimit?: number;
}

/** One table per named feature, all of width E. */
export class EmbeddingGroup extends Module {
  readonly dim: number;
  /** Feature names in field order. */
  readonly names: readonly string[];
  private readonly tables = new Map<string, Embedding>();

  constructor(name: string, init: ParamInit, options: EmbeddingGroupOptions) {
    super(name);
    this.dim = options.dim;
    this.names = Object.keys(options.vocab);
    for (const [feature, vocab] of Object.entries(options.vocab)) {
      const table = new Embedding(this.scoped(feature), init, { vocab, dim: options.dim, initLimit: options.initLimit });
      this.tables.set(feature, this.child(table));
    }
  }

  table(feature: string): Embedding {
    const table = this.tables.get(feature);
    if (table === undefined) throw new Error(`${this.name}: no embedding table '${feature}'`);
    return table;
  }

  /** ids [B] → [B, E], or sequence ids [B, L] → [B, L, E]. */
  lookup(feature: string, ids: tf.Tensor): tf.Tensor {
    return this.table(feature).lookup(ids);
  }

  /**
   * Stacked field embeddings: scalar ids (each [B]) → [B, F, E]; sequence ids (each [B, L]) →
   * [B, L, F, E]. Fields are `features` in order (default: all, in field order).
   */
  lookupFields(ids: Record<string, tf.Tensor>, features: readonly string[] = this.names): tf.Tensor {
    const parts = features.map((feature) => {
      const featureIds = ids[feature];
      if (featureIds === undefined) throw new Error(`${this.name}: no ids for feature '${feature}'`);
      return this.lookup(feature, featureIds);
    });
    const first = parts[0];
    if (first === undefined) throw new Error(`${this.name}: lookupFields needs at least one feature`);
    return tf.stack(parts, first.rank - 1);
  }
}
