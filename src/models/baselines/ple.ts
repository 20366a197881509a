import type * as tf from "@tensorflow/tfjs";
import { ENTITY_NAMES, type EntityName } from "../../data/batch.ts";
import type { ParamInit } from "../../layers/params.ts";
import { Ple, type PleEntityOutput } from "../../layers/ple.ts";
import { Tower } from "../../layers/tower.ts";
import { FeatureFrontEnd } from "../features.ts";
import type { BatchTensors } from "../inputs.ts";
import type { ModelRecipe } from "../recipe.ts";
import type { RowSet } from "../rows.ts";
import { denseInput, denseInputSize, forEntity, JointModel, singleStageRecipe, type BaselineOptions } from "./common.ts";

/**
 * Joint-training PLE (SPEC §3): MKT's CKE without HFA, on the naive union schema [v_u ‖ v_seq ‖
 * v_shared ‖ flatten(v_spec^s) ‖ flatten(v_spec^t)] (sequences attention-pooled as in MKT):
 * extraction levels sizes.cke_levels, each with sizes.cke_shared_experts shared experts,
 * sizes.cke_entity_experts experts per entity and per-entity softmax gates; each entity's tower
 * reads its PLE output only (no independent extractor, unlike MKT).
 */
export class PleModel extends JointModel {
  readonly frontEnd: FeatureFrontEnd;
  private readonly ple: Ple;
  private readonly towers: Record<EntityName, Tower>;

  constructor(name: string, init: ParamInit, { schema, sizes }: BaselineOptions) {
    super(name);
    this.frontEnd = this.child(new FeatureFrontEnd(this.scoped("features"), init, schema, { dim: sizes.embedding_dim, attentionHidden: sizes.attention }));
    this.ple = this.child(
      new Ple(this.scoped("ple"), init, {
        inputSize: denseInputSize(this.frontEnd, ENTITY_NAMES),
        levelSizes: sizes.cke_levels,
        sharedExperts: sizes.cke_shared_experts,
        entityExperts: sizes.cke_entity_experts,
      }),
    );
    const tower = (entity: EntityName): Tower =>
      this.child(new Tower(this.scoped(`tower_${entity}`), init, { inputSize: this.ple.outputSize, hidden: sizes.tower }));
    this.towers = { source: tower("source"), target: tower("target") };
  }

  /** `rows` through `entity`'s PLE path: output and gate weights per level. */
  extract(batch: BatchTensors, entity: EntityName, rows: RowSet = entity): PleEntityOutput {
    return this.ple.apply(forEntity(entity, denseInput(this.frontEnd, batch, rows, ENTITY_NAMES)))[entity];
  }

  logits(batch: BatchTensors, entity: EntityName, rows: RowSet): tf.Tensor1D {
    return this.towers[entity].apply(this.extract(batch, entity, rows).output);
  }
}

export const pleRecipe: ModelRecipe = singleStageRecipe("ple", "joint training", (init, options) => new PleModel("ple", init, options));
