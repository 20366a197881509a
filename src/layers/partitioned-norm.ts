import { tf } from "../engine/index.ts";
import type { EntityName } from "../data/batch.ts";
import type { ForwardMode } from "./mode.ts";
import { MovingMoments } from "./moving-moments.ts";
import { Module, type ParamInit } from "./params.ts";

export interface PartitionedNormOptions {
  /** Width of the normalized vectors. */
  size: number;
  /** Weight of the old value in each moving-statistics update; default 0.9 (PyTorch's 0.1 for the new one). */
  momentum?: number;
  /**
   * Default 1e-3 (Keras' and TF's batch normalization, STAR's framework): near-constant inputs,
   * such as barely varying embedding dimensions, are not blown up to unit variance.
   */
  epsilon?: number;
}

/** One entity's part: its scale and shift factors and its moving statistics. */
interface Partition {
  scale: tf.Variable;
  shift: tf.Variable;
  moments: MovingMoments;
}

/**
 * STAR's partitioned normalization over two entities. Rows of entity e are normalized with e's
 * statistics only, then z' = (γ ⊙ γ_e) ⊙ (z − μ_e) / sqrt(σ²_e + ε) + (β + β_e): the shared scale
 * is multiplied by the entity's and the shifts add (γ's start at 1, β's at 0). In "train" mode
 * μ_e, σ²_e are the (biased) batch moments of e's rows, which must all be e's, and e's moving
 * statistics move toward them (MovingMoments); "predict" uses the moving statistics. They are
 * state variables: checkpoints and best-epoch snapshots keep them, the optimizer never sees them.
 */
export class PartitionedNorm extends Module {
  private readonly scale: tf.Variable;
  private readonly shift: tf.Variable;
  private readonly partitions: Record<EntityName, Partition>;
  private readonly epsilon: number;

  constructor(name: string, init: ParamInit, options: PartitionedNormOptions) {
    super(name);
    const { size } = options;
    this.epsilon = options.epsilon ?? 1e-3;
    this.scale = this.param("scale", tf.ones([size]));
    this.shift = this.param("shift", init.zeros([size]));
    const partition = (entity: EntityName): Partition => {
      const moments = this.child(new MovingMoments(this.scoped(entity), init, { size, momentum: options.momentum }));
      const scale = this.param(`${entity}_scale`, tf.ones([size]));
      return { scale, shift: this.param(`${entity}_shift`, init.zeros([size])), moments };
    };
    this.partitions = { source: partition("source"), target: partition("target") };
  }

  /** The moving statistics of every entity. */
  statistics(): tf.Variable[] {
    return Object.values(this.partitions).flatMap((p) => [p.moments.mean, p.moments.variance]);
  }

  /** Entity e's moving mean and variance [size]. */
  moving(entity: EntityName): { mean: tf.Variable; variance: tf.Variable } {
    const { mean, variance } = this.partitions[entity].moments;
    return { mean, variance };
  }

  /** x [n, size], rows read as `entity`'s → [n, size]. */
  apply(x: tf.Tensor2D, entity: EntityName, mode: ForwardMode): tf.Tensor2D {
    const p = this.partitions[entity];
    const { mean, variance } = p.moments.moments(x, mode);
    const normalized = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, this.epsilon)));
    return tf.add(tf.mul(normalized, tf.mul(this.scale, p.scale)), tf.add(this.shift, p.shift)) as tf.Tensor2D;
  }
}
