import type * as tf from "@tensorflow/tfjs";
import { ENTITY_NAMES, type EntityName } from "../../data/batch.ts";
import { CgcLevel } from "../../layers/cgc.ts";
import type { ParamInit } from "../../layers/params.ts";
import { Tower } from "../../layers/tower.ts";
import { FeatureFrontEnd } from "../features.ts";
import type { BatchTensors } from "../inputs.ts";
import type { ModelRecipe } from "../recipe.ts";
import type { RowSet } from "../rows.ts";
import { denseInput, denseInputSize, forEntity, JointModel, singleStageRecipe, type BaselineOptions } from "./common.ts";

/**
 * Joint-training MMoE (SPEC §3): on the naive union schema [v_u ‖ v_seq ‖ v_shared ‖
 * flatten(v_spec^s) ‖ flatten(v_spec^t)] (sequences attention-pooled as in MKT), sizes.mmoe_experts
 * experts MLP sizes.mlp, all shared by both entities; each entity mixes them with its own softmax
 * gate and has its own tower. Built as a CGC level without entity experts.
 */
export class MmoeModel extends JointModel {
  readonly frontEnd: FeatureFrontEnd;
  private readonly experts: CgcLevel;
  private readonly towers: Record<EntityName, Tower>;

  constructor(name: string, init: ParamInit, { schema, sizes }: BaselineOptions) {
    super(name);
    this.frontEnd = this.child(new FeatureFrontEnd(this.scoped("features"), init, schema, { dim: sizes.embedding_dim, attentionHidden: sizes.attention }));
    this.experts = this.child(
      new CgcLevel(this.scoped("mmoe"), init, {
        inputSize: denseInputSize(this.frontEnd, ENTITY_NAMES),
        expertSizes: sizes.mlp,
        sharedExperts: sizes.mmoe_experts,
        entityExperts: 0,
      }),
    );
    const tower = (entity: EntityName): Tower =>
      this.child(new Tower(this.scoped(`tower_${entity}`), init, { inputSize: this.experts.outputSize, hidden: sizes.tower }));
    this.towers = { source: tower("source"), target: tower("target") };
  }

  /** Both entities' gate weights on the same `rows` [n, mmoe_experts] each. */
  gates(batch: BatchTensors, rows: RowSet = "all"): Record<EntityName, tf.Tensor2D> {
    const x = denseInput(this.frontEnd, batch, rows, ENTITY_NAMES);
    const out = this.experts.apply({ source: { task: x, shared: x }, target: { task: x, shared: x } });
    return { source: out.source.gate, target: out.target.gate };
  }

  logits(batch: BatchTensors, entity: EntityName, rows: RowSet): tf.Tensor1D {
    const x = denseInput(this.frontEnd, batch, rows, ENTITY_NAMES);
    return this.towers[entity].apply(this.experts.apply(forEntity(entity, { task: x, shared: x }))[entity].task);
  }
}

export const mmoeRecipe: ModelRecipe = singleStageRecipe("mmoe", "joint training", (init, options) => new MmoeModel("mmoe", init, options));
