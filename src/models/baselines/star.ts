import * as tf from "@tensorflow/tfjs";
import { ENTITY_NAMES, type EntityName } from "../../data/batch.ts";
import { Embedding } from "../../layers/embedding.ts";
import type { ParamInit } from "../../layers/params.ts";
import { PartitionedNorm } from "../../layers/partitioned-norm.ts";
import { StarFcn } from "../../layers/star-fcn.ts";
import { Tower } from "../../layers/tower.ts";
import { FeatureFrontEnd } from "../features.ts";
import type { BatchTensors } from "../inputs.ts";
import type { ModelRecipe } from "../recipe.ts";
import type { RowSet } from "../rows.ts";
import { denseInput, denseInputSize, JointModel, singleStageRecipe, type BaselineOptions, type ForwardMode } from "./common.ts";

/**
 * Joint-training STAR (SPEC §3). The naive union input [v_u ‖ v_seq ‖ v_shared ‖ flatten(v_spec^s)
 * ‖ flatten(v_spec^t)] (sequences attention-pooled as in MKT) goes through partitioned
 * normalization (per-entity statistics and scale/shift, see PartitionedNorm), then the
 * star-topology FCN sizes.mlp (W_e = W_shared ⊙ W'_e, b_e = b_shared + b'_e) and entity e's tower.
 * The auxiliary network (tower sizes.tower on the entity-indicator embedding, E wide) adds a
 * per-entity logit, as STAR's auxiliary network does from the domain indicator.
 */
export class StarModel extends JointModel {
  readonly frontEnd: FeatureFrontEnd;
  readonly norm: PartitionedNorm;
  readonly fcn: StarFcn;
  private readonly towers: Record<EntityName, Tower>;
  private readonly indicator: Embedding;
  private readonly auxiliary: Tower;

  constructor(name: string, init: ParamInit, { schema, sizes }: BaselineOptions) {
    super(name);
    const E = sizes.embedding_dim;
    this.frontEnd = this.child(new FeatureFrontEnd(this.scoped("features"), init, schema, { dim: E, attentionHidden: sizes.attention }));
    const inputSize = denseInputSize(this.frontEnd, ENTITY_NAMES);
    this.norm = this.child(new PartitionedNorm(this.scoped("norm"), init, { size: inputSize }));
    this.fcn = this.child(new StarFcn(this.scoped("fcn"), init, { inputSize, sizes: sizes.mlp }));
    const tower = (entity: EntityName): Tower =>
      this.child(new Tower(this.scoped(`tower_${entity}`), init, { inputSize: this.fcn.outputSize, hidden: sizes.tower }));
    this.towers = { source: tower("source"), target: tower("target") };
    this.indicator = this.child(new Embedding(this.scoped("entity_indicator"), init, { vocab: ENTITY_NAMES.length, dim: E }));
    this.auxiliary = this.child(new Tower(this.scoped("auxiliary"), init, { inputSize: E, hidden: sizes.tower }));
  }

  /** Every trainable variable except the normalization's moving statistics, even if someone made them trainable. */
  override trainableVariables(): tf.Variable[] {
    const statistics = new Set(this.norm.statistics());
    return super.trainableVariables().filter((v) => !statistics.has(v));
  }

  /** In "train" mode, `rows` must be `entity`'s own rows: they update its moving statistics. */
  logits(batch: BatchTensors, entity: EntityName, rows: RowSet, mode: ForwardMode): tf.Tensor1D {
    const x = this.norm.apply(denseInput(this.frontEnd, batch, rows, ENTITY_NAMES), entity, mode);
    const main = this.towers[entity].apply(this.fcn.apply(x, entity));
    const id = tf.tensor1d([ENTITY_NAMES.indexOf(entity)], "int32");
    return tf.add(main, this.auxiliary.apply(this.indicator.lookup(id))) as tf.Tensor1D;
  }
}

export const starRecipe: ModelRecipe = singleStageRecipe("star", "joint training", (init, options) => new StarModel("star", init, options));
