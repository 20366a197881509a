import { tf } from "../../engine/index.ts";
import { z } from "../../util/zod.ts";
import { BilinearInteraction } from "../../layers/bilinear.ts";
import { Mlp } from "../../layers/mlp.ts";
import type { ParamInit } from "../../layers/params.ts";
import { Senet, type SenetResult } from "../../layers/senet.ts";
import { Tower } from "../../layers/tower.ts";
import { defineModel, modelSection, sectionsOf } from "../definition.ts";
import type { BatchTensors } from "../inputs.ts";
import { rowCount, type RowSet } from "../rows.ts";
import { denseInput, denseInputSize, SingleDomainModel, singleStage, type BaselineOptions } from "./common.ts";

/** FiBiNet's own hyperparameters: spec section `fibinet`. */
const fibinetSections = {
  fibinet: modelSection({
    /** r: SENET's reduction ratio (its bottleneck has max(1, ⌊F/r⌋) units for F fields). */
    senet_reduction: z.number().int().min(1).default(3),
  }, { movedFrom: { senet_reduction: "sizes.senet_reduction" } }),
};

export type FibinetOptions = BaselineOptions & z.output<typeof fibinetSections.fibinet>;

/**
 * Single-domain FiBiNet (SPEC §3). Fields [n, F, E]: each user feature, each mean-pooled element
 * feature of each sequence (its shared features and its item id: the mean of E-wide embeddings
 * is one E-wide field, as FiBiNet/DeepCTR treat variable-length features), each shared feature and
 * each target-specific feature. SENET (reduction fibinet.senet_reduction) reweights the fields; a
 * "field-all" bilinear interaction (one W for all pairs) runs on the original fields and another
 * (own W, as in the paper's two interaction layers) on the reweighted ones; both pair sets,
 * flattened and concatenated, feed MLP sizes.mlp → tower. No linear part (SPEC: MLP + tower only).
 */
export class FibinetModel extends SingleDomainModel {
  /** F. */
  readonly fieldCount: number;
  private readonly senet: Senet;
  private readonly bilinear: BilinearInteraction;
  private readonly senetBilinear: BilinearInteraction;
  private readonly mlp: Mlp;
  private readonly tower: Tower;

  constructor(name: string, init: ParamInit, options: FibinetOptions) {
    super(name, init, options, { specificEntities: ["target"], pooling: "mean" });
    const { sizes } = options;
    const E = sizes.embedding_dim;
    this.fieldCount = denseInputSize(this.frontEnd, ["target"]) / E;
    const F = this.fieldCount;
    this.senet = this.child(new Senet(this.scoped("senet"), init, { fields: F, reductionRatio: options.senet_reduction }));
    this.bilinear = this.child(new BilinearInteraction(this.scoped("bilinear"), init, { dim: E }));
    this.senetBilinear = this.child(new BilinearInteraction(this.scoped("senet_bilinear"), init, { dim: E }));
    this.mlp = this.child(new Mlp(this.scoped("mlp"), init, { inputSize: F * (F - 1) * E, sizes: sizes.mlp }));
    this.tower = this.child(new Tower(this.scoped("tower"), init, { inputSize: this.mlp.outputSize, hidden: sizes.tower }));
  }

  /** Field embeddings of `rows` [n, F, E]. */
  fields(batch: BatchTensors, rows: RowSet = "all"): tf.Tensor3D {
    return denseInput(this.frontEnd, batch, rows, ["target"]).reshape([rowCount(batch, rows), this.fieldCount, this.frontEnd.dim]);
  }

  /** SENET's reweighted fields and per-field weights [n, F] of `rows`. */
  senetFields(batch: BatchTensors, rows: RowSet = "all"): SenetResult {
    return this.senet.apply(this.fields(batch, rows));
  }

  logits(batch: BatchTensors, rows: RowSet): tf.Tensor1D {
    const n = rowCount(batch, rows);
    const fields = this.fields(batch, rows);
    const original = this.bilinear.apply(fields).reshape([n, -1]);
    const reweighted = this.senetBilinear.apply(this.senet.apply(fields).output).reshape([n, -1]);
    return this.tower.apply(this.mlp.apply(tf.concat([original, reweighted], 1)));
  }
}

export const fibinetRecipe = defineModel({
  name: "fibinet",
  label: "FiBiNet",
  category: "single-domain",
  sections: fibinetSections,
  ...singleStage((init, schema, spec) => new FibinetModel("fibinet", init, { schema, sizes: spec.sizes, ...sectionsOf(fibinetSections, spec).fibinet })),
});
