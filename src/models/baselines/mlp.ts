import type * as tf from "@tensorflow/tfjs";
import { Mlp } from "../../layers/mlp.ts";
import type { ParamInit } from "../../layers/params.ts";
import { Tower } from "../../layers/tower.ts";
import { FeatureFrontEnd } from "../features.ts";
import type { BatchTensors } from "../inputs.ts";
import type { ModelRecipe } from "../recipe.ts";
import type { RowSet } from "../rows.ts";
import { denseInput, denseInputSize, SingleDomainModel, singleStageRecipe, type BaselineOptions } from "./common.ts";

/**
 * Single-domain MLP (SPEC §3): on target rows, [v_u ‖ v_seq ‖ v_shared ‖ flatten(v_spec^t)] with
 * both sequences mean-pooled (no candidate conditioning) → MLP sizes.mlp → tower.
 */
export class MlpModel extends SingleDomainModel {
  readonly frontEnd: FeatureFrontEnd;
  private readonly mlp: Mlp;
  private readonly tower: Tower;

  constructor(name: string, init: ParamInit, { schema, sizes }: BaselineOptions) {
    super(name);
    this.frontEnd = this.child(
      new FeatureFrontEnd(this.scoped("features"), init, schema, { dim: sizes.embedding_dim, specificEntities: ["target"], pooling: "mean" }),
    );
    this.mlp = this.child(new Mlp(this.scoped("mlp"), init, { inputSize: denseInputSize(this.frontEnd, ["target"]), sizes: sizes.mlp }));
    this.tower = this.child(new Tower(this.scoped("tower"), init, { inputSize: this.mlp.outputSize, hidden: sizes.tower }));
  }

  logits(batch: BatchTensors, rows: RowSet): tf.Tensor1D {
    return this.tower.apply(this.mlp.apply(denseInput(this.frontEnd, batch, rows, ["target"])));
  }
}

export const mlpRecipe: ModelRecipe = singleStageRecipe("mlp", "single-domain", (init, options) => new MlpModel("mlp", init, options));
