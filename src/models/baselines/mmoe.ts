import type * as tf from "@tensorflow/tfjs";
import { z } from "../../util/zod.ts";
import { ENTITY_NAMES, type EntityName } from "../../data/batch.ts";
import { CgcLevel } from "../../layers/cgc.ts";
import type { ParamInit } from "../../layers/params.ts";
import type { Tower } from "../../layers/tower.ts";
import { defineModel, modelSection, sectionsOf } from "../definition.ts";
import type { BatchTensors } from "../inputs.ts";
import { forEntity, type RowSet } from "../rows.ts";
import { denseInput, denseInputSize, JointModel, singleStage, type BaselineOptions } from "./common.ts";

/** MMoE's own hyperparameters: spec section `mmoe`. */
const mmoeSections = {
  mmoe: modelSection({
    /** Experts (each an MLP sizes.mlp), shared by both entities and mixed by each entity's gate. */
    experts: z.number().int().min(1).default(3),
  }, { movedFrom: { experts: "sizes.mmoe_experts" } }),
};

export type MmoeOptions = BaselineOptions & z.output<typeof mmoeSections.mmoe>;

/**
 * Joint-training MMoE (SPEC §3): on the naive union schema [v_u ‖ v_seq ‖ v_shared ‖
 * flatten(v_spec^s) ‖ flatten(v_spec^t)] (sequences attention-pooled as in MKT), mmoe.experts
 * experts MLP sizes.mlp, all shared by both entities; each entity mixes them with its own softmax
 * gate and has its own tower. Built as a CGC level without entity experts.
 */
export class MmoeModel extends JointModel {
  private readonly experts: CgcLevel;
  private readonly towers: Record<EntityName, Tower>;

  constructor(name: string, init: ParamInit, options: MmoeOptions) {
    super(name, init, options);
    const inputSize = denseInputSize(this.frontEnd, ENTITY_NAMES);
    const { mlp, tower } = options.sizes;
    this.experts = this.child(new CgcLevel(this.scoped("mmoe"), init, { inputSize, expertSizes: mlp, sharedExperts: options.experts, entityExperts: 0 }));
    this.towers = this.entityTowers(init, this.experts.outputSize, tower);
  }

  /** Both entities' gate weights on the same `rows` [n, experts] each. */
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

export const mmoeRecipe = defineModel({
  name: "mmoe",
  label: "MMoE",
  category: "joint training",
  sections: mmoeSections,
  ...singleStage((init, schema, spec) => new MmoeModel("mmoe", init, { schema, sizes: spec.sizes, ...sectionsOf(mmoeSections, spec).mmoe })),
});
