import type * as tf from "@tensorflow/tfjs";
import { Mlp } from "../../layers/mlp.ts";
import type { ParamInit } from "../../layers/params.ts";
import { Tower } from "../../layers/tower.ts";
import { defineModel } from "../definition.ts";
import type { BatchTensors } from "../inputs.ts";
import type { RowSet } from "../rows.ts";
import { denseInput, denseInputSize, SingleDomainModel, singleStage, type BaselineOptions } from "./common.ts";

/**
 * Single-domain MLP (SPEC §3): on target rows, [v_u ‖ v_seq ‖ v_shared ‖ flatten(v_spec^t)] with
 * both sequences mean-pooled (no candidate conditioning) → MLP sizes.mlp → tower.
 */
export class MlpModel extends SingleDomainModel {
  private readonly mlp: Mlp;
  private readonly tower: Tower;

  constructor(name: string, init: ParamInit, options: BaselineOptions) {
    super(name, init, options, { specificEntities: ["target"], pooling: "mean" });
    const { mlp, tower } = options.sizes;
    this.mlp = this.child(new Mlp(this.scoped("mlp"), init, { inputSize: denseInputSize(this.frontEnd, ["target"]), sizes: mlp }));
    this.tower = this.child(new Tower(this.scoped("tower"), init, { inputSize: this.mlp.outputSize, hidden: tower }));
  }

  logits(batch: BatchTensors, rows: RowSet): tf.Tensor1D {
    return this.tower.apply(this.mlp.apply(denseInput(this.frontEnd, batch, rows, ["target"])));
  }
}

export const mlpRecipe = defineModel({
  name: "mlp",
  label: "MLP",
  category: "single-domain",
  ...singleStage((init, schema, spec) => new MlpModel("mlp", init, { schema, sizes: spec.sizes })),
});
