import * as tf from "@tensorflow/tfjs";
import { DinAttention } from "../../layers/din-attention.ts";
import { Mlp } from "../../layers/mlp.ts";
import type { ForwardMode } from "../../layers/mode.ts";
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

/** One sequence's activation unit and what it compares. */
interface SequenceUnit {
  unit: DinAttention;
  /**
   * Candidate columns the query adds to v_shared, matching the element's non-shared features: the
   * item id when the sequence holds items of the candidate's own entity (seq_target), else none.
   */
  itemColumns: readonly string[];
}

/**
 * Single-domain DIN (SPEC §3, Zhou et al. 2018): the MLP baseline with each behaviour sequence
 * pooled by DIN's activation unit (MLP sizes.attention on [q, k, q−k, q⊙k], masked, no softmax), so
 * the user's interest vector depends on the candidate. As in the DIN paper an item is represented by
 * all its embeddings: for seq_target, whose elements are items of the candidate's entity, the query
 * is [v_shared ‖ candidate item id] and the keys [shared features ‖ item id] of each element; for
 * seq_source (other items, another id space) the query is v_shared and the keys the elements' shared
 * features. Every hidden layer (activation unit, MLP, tower) uses Dice, the DIN paper's activation:
 * batch statistics in training, moving averages at prediction. The front end only embeds; DIN owns
 * its activation units so that their weights can be read (attention()).
 */
export class DinModel extends SingleDomainModel {
  readonly frontEnd: FeatureFrontEnd;
  private readonly units: Map<string, SequenceUnit>;
  private readonly mlp: Mlp;
  private readonly tower: Tower;

  constructor(name: string, init: ParamInit, { schema, sizes }: BaselineOptions) {
    super(name);
    this.frontEnd = this.child(
      new FeatureFrontEnd(this.scoped("features"), init, schema, { dim: sizes.embedding_dim, specificEntities: ["target"], pooling: "mean" }),
    );
    const fe = this.frontEnd;
    const candidate = new Set(fe.specificColumns.target);
    this.units = new Map(
      schema.sequences.map(({ name: seq }) => {
        const others = fe.elementColumns(seq).slice(fe.sharedColumns.length);
        const itemColumns = others.length > 0 && others.every((c) => candidate.has(c)) ? others : [];
        const dim = fe.sharedSize + itemColumns.length * fe.dim;
        const unit = this.child(new DinAttention(this.scoped(`${seq}_attention`), init, { dim, hidden: sizes.attention, activation: "dice" }));
        return [seq, { unit, itemColumns }];
      }),
    );
    this.mlp = this.child(new Mlp(this.scoped("mlp"), init, { inputSize: denseInputSize(fe, ["target"]), sizes: sizes.mlp, activation: "dice" }));
    this.tower = this.child(new Tower(this.scoped("tower"), init, { inputSize: this.mlp.outputSize, hidden: sizes.tower, activation: "dice" }));
  }

  /** Every sequence of `rows` pooled, queried by the candidate (its v_shared [n, sharedSize], plus its item id where the keys have one). */
  attention(batch: BatchTensors, shared: tf.Tensor2D, rows: RowSet, mode: ForwardMode): DinPooling {
    const weights: Record<string, tf.Tensor2D> = {};
    const pooled = [...this.units].map(([seq, { unit, itemColumns }]) => {
      const { keys, values, mask } = this.frontEnd.sequence(batch, seq, rows);
      const keyed = itemColumns.length > 0;
      const query = keyed ? tf.concat([shared, this.frontEnd.columns(batch, itemColumns, rows)], 1) : shared;
      const result = unit.apply(query, keyed ? values : keys, mask, values, mode);
      weights[seq] = result.weights;
      return result.output;
    });
    return { pooled: tf.concat(pooled, 1) as tf.Tensor2D, weights };
  }

  logits(batch: BatchTensors, rows: RowSet, mode: ForwardMode): tf.Tensor1D {
    const input = denseInput(this.frontEnd, batch, rows, ["target"], (shared) => this.attention(batch, shared, rows, mode).pooled);
    const context = { mode };
    return this.tower.apply(this.mlp.apply(input, context), context);
  }
}

export const dinRecipe: ModelRecipe = singleStageRecipe("din", "single-domain", (init, options) => new DinModel("din", init, options));
