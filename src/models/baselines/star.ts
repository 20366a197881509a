import { tf } from "../../engine/index.ts";
import { ENTITY_NAMES, type EntityName } from "../../data/batch.ts";
import { Embedding } from "../../layers/embedding.ts";
import type { ForwardMode } from "../../layers/mode.ts";
import type { ParamInit } from "../../layers/params.ts";
import { PartitionedNorm } from "../../layers/partitioned-norm.ts";
import { StarFcn } from "../../layers/star-fcn.ts";
import { Tower } from "../../layers/tower.ts";
import { defineModel } from "../definition.ts";
import { concatColumns } from "../features.ts";
import type { BatchTensors } from "../inputs.ts";
import { type RowSet } from "../rows.ts";
import { denseInput, denseInputSize, JointModel, singleStage, type BaselineOptions } from "./common.ts";

/**
 * Joint-training STAR (SPEC §3). The naive union input [v_u ‖ v_seq ‖ v_shared ‖ flatten(v_spec^s)
 * ‖ flatten(v_spec^t)] (sequences attention-pooled as in MKT) goes through partitioned
 * normalization (per-entity statistics and scale/shift, see PartitionedNorm), then the
 * star-topology FCN sizes.mlp (W_e = W_shared ⊙ W'_e, b_e = b_shared + b'_e) and entity e's tower.
 * The auxiliary network, as STAR's (Sheng et al. 2021), reads the entity indicator's
 * embedding (E wide) together with the other features' embeddings, v_u and v_shared (not
 * normalized), through a tower sizes.tower; its logit is added to the main one.
 */
export class StarModel extends JointModel {
  readonly norm: PartitionedNorm;
  readonly fcn: StarFcn;
  private readonly towers: Record<EntityName, Tower>;
  private readonly indicator: Embedding;
  private readonly auxiliary: Tower;

  constructor(name: string, init: ParamInit, options: BaselineOptions) {
    super(name, init, options);
    const { sizes } = options;
    const E = sizes.embedding_dim;
    const inputSize = denseInputSize(this.frontEnd, ENTITY_NAMES);
    this.norm = this.child(new PartitionedNorm(this.scoped("norm"), init, { size: inputSize }));
    this.fcn = this.child(new StarFcn(this.scoped("fcn"), init, { inputSize, sizes: sizes.mlp }));
    this.towers = this.entityTowers(init, this.fcn.outputSize, sizes.tower);
    this.indicator = this.child(new Embedding(this.scoped("entity_indicator"), init, { vocab: ENTITY_NAMES.length, dim: E }));
    const auxiliarySize = E + this.frontEnd.userSize + this.frontEnd.sharedSize;
    this.auxiliary = this.child(new Tower(this.scoped("auxiliary"), init, { inputSize: auxiliarySize, hidden: sizes.tower }));
  }

  /** The auxiliary network's input for `rows` read as `entity`'s: [indicator embedding ‖ v_u ‖ v_shared] [n, E + userSize + sharedSize] (v_shared absent without shared features). */
  auxiliaryInput(batch: BatchTensors, entity: EntityName, rows: RowSet): tf.Tensor2D {
    const fe = this.frontEnd;
    const user = fe.user(batch, rows);
    // The entity's indicator row on every row: a [1, E] lookup times ones of the batch's height (no
    // constant of the batch's size, so the exported graph takes any batch size; 1·x = x exactly).
    const ones = tf.onesLike(tf.slice(user, [0, 0], [-1, 1]));
    const indicator = tf.mul(ones, this.indicator.lookup(tf.tensor1d([ENTITY_NAMES.indexOf(entity)], "int32"))) as tf.Tensor2D;
    return concatColumns([indicator, user, fe.shared(batch, rows)]);
  }

  /** In "train" mode, `rows` must be `entity`'s own rows: they update its moving statistics. */
  logits(batch: BatchTensors, entity: EntityName, rows: RowSet, mode: ForwardMode): tf.Tensor1D {
    const x = this.norm.apply(denseInput(this.frontEnd, batch, rows, ENTITY_NAMES), entity, mode);
    const main = this.towers[entity].apply(this.fcn.apply(x, entity));
    return tf.add(main, this.auxiliary.apply(this.auxiliaryInput(batch, entity, rows))) as tf.Tensor1D;
  }
}

export const starRecipe = defineModel({
  name: "star",
  label: "STAR",
  category: "joint training",
  ...singleStage((init, schema, spec) => new StarModel("star", init, { schema, sizes: spec.sizes })),
});
