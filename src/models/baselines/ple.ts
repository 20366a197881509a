import type * as tf from "@tensorflow/tfjs";
import { ENTITY_NAMES, type EntityName } from "../../data/batch.ts";
import type { ParamInit } from "../../layers/params.ts";
import { Ple, type PleEntityOutput } from "../../layers/ple.ts";
import type { Tower } from "../../layers/tower.ts";
import { defineModel } from "../definition.ts";
import type { BatchTensors } from "../inputs.ts";
import { forEntity, type RowSet } from "../rows.ts";
import { denseInput, denseInputSize, JointModel, singleStage, type BaselineOptions } from "./common.ts";

/**
 * Joint-training PLE (SPEC §3): MKT's CKE without HFA, on the naive union schema [v_u ‖ v_seq ‖
 * v_shared ‖ flatten(v_spec^s) ‖ flatten(v_spec^t)] (sequences attention-pooled as in MKT):
 * extraction levels sizes.cke_levels, each with sizes.cke_shared_experts shared experts,
 * sizes.cke_entity_experts experts per entity and per-entity softmax gates; each entity's tower
 * reads its PLE output only (no independent extractor, unlike MKT).
 */
export class PleModel extends JointModel {
  private readonly ple: Ple;
  private readonly towers: Record<EntityName, Tower>;

  constructor(name: string, init: ParamInit, options: BaselineOptions) {
    super(name, init, options);
    const { sizes } = options;
    this.ple = this.child(
      new Ple(this.scoped("ple"), init, {
        inputSize: denseInputSize(this.frontEnd, ENTITY_NAMES),
        levelSizes: sizes.cke_levels,
        sharedExperts: sizes.cke_shared_experts,
        entityExperts: sizes.cke_entity_experts,
      }),
    );
    this.towers = this.entityTowers(init, this.ple.outputSize, sizes.tower);
  }

  /** `rows` through `entity`'s PLE path: output and gate weights per level. */
  extract(batch: BatchTensors, entity: EntityName, rows: RowSet = entity): PleEntityOutput {
    return this.ple.apply(forEntity(entity, denseInput(this.frontEnd, batch, rows, ENTITY_NAMES)))[entity];
  }

  logits(batch: BatchTensors, entity: EntityName, rows: RowSet): tf.Tensor1D {
    return this.towers[entity].apply(this.extract(batch, entity, rows).output);
  }
}

export const pleRecipe = defineModel({
  name: "ple",
  label: "PLE",
  category: "joint training",
  ...singleStage((init, schema, spec) => new PleModel("ple", init, { schema, sizes: spec.sizes })),
});
