import * as tf from "@tensorflow/tfjs";
import { DinAttention } from "../../layers/din-attention.ts";
import { Mlp } from "../../layers/mlp.ts";
import type { ParamInit } from "../../layers/params.ts";
import { Tower } from "../../layers/tower.ts";
import { FeatureFrontEnd } from "../features.ts";
import type { BatchTensors } from "../inputs.ts";
import type { ModelRecipe } from "../recipe.ts";
import type { RowSet } from "../rows.ts";
import { denseInput, denseInputSize, SingleDomainModel, singleStageRecipe, type BaselineOptions } from "./common.ts";

/** DIN's attention pooling of every sequence: pooled v_seq [n, seqSize] and each sequence's weights [n, L]. */
export interface DinPooling {
  pooled: tf.Tensor2D;
  weights: Record<string, tf.Tensor2D>;
}

/**
 * Single-domain DIN (SPEC §3): the MLP baseline with each behaviour sequence pooled by DIN's
 * activation unit, queried by the candidate's shared-feature embeddings (MLP sizes.attention on
 * [q, k, q−k, q⊙k], masked, no softmax), so the user's interest vector depends on the candidate.
 * The front end only embeds; DIN owns one activation unit per sequence so that its weights can be
 * read (attention()).
 */
export class DinModel extends SingleDomainModel {
  readonly frontEnd: FeatureFrontEnd;
  private readonly units: Map<string, DinAttention>;
  private readonly mlp: Mlp;
  private readonly tower: Tower;

  constructor(name: string, init: ParamInit, { schema, sizes }: BaselineOptions) {
    super(name);
    this.frontEnd = this.child(
      new FeatureFrontEnd(this.scoped("features"), init, schema, { dim: sizes.embedding_dim, specificEntities: ["target"], pooling: "mean" }),
    );
    const fe = this.frontEnd;
    this.units = new Map(
      schema.sequences.map(({ name: seq }) => [
        seq,
        this.child(new DinAttention(this.scoped(`${seq}_attention`), init, { dim: fe.sharedSize, hidden: sizes.attention })),
      ]),
    );
    this.mlp = this.child(new Mlp(this.scoped("mlp"), init, { inputSize: denseInputSize(fe, ["target"]), sizes: sizes.mlp }));
    this.tower = this.child(new Tower(this.scoped("tower"), init, { inputSize: this.mlp.outputSize, hidden: sizes.tower }));
  }

  /** Every sequence of `rows` pooled with the candidate's v_shared [n, sharedSize] as the query. */
  attention(batch: BatchTensors, query: tf.Tensor2D, rows: RowSet = "all"): DinPooling {
    const weights: Record<string, tf.Tensor2D> = {};
    const pooled = [...this.units].map(([seq, unit]) => {
      const { keys, values, mask } = this.frontEnd.sequence(batch, seq, rows);
      const result = unit.apply(query, keys, mask, values);
      weights[seq] = result.weights;
      return result.output;
    });
    return { pooled: tf.concat(pooled, 1) as tf.Tensor2D, weights };
  }

  logits(batch: BatchTensors, rows: RowSet): tf.Tensor1D {
    const input = denseInput(this.frontEnd, batch, rows, ["target"], (shared) => this.attention(batch, shared, rows).pooled);
    return this.tower.apply(this.mlp.apply(input));
  }
}

export const dinRecipe: ModelRecipe = singleStageRecipe("din", "single-domain", (init, options) => new DinModel("din", init, options));
