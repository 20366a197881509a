import { tf } from "../../engine/index.ts";
import { DinAttention } from "../../layers/din-attention.ts";
import { Mlp } from "../../layers/mlp.ts";
import type { ForwardMode } from "../../layers/mode.ts";
import type { ParamInit } from "../../layers/params.ts";
import { Tower } from "../../layers/tower.ts";
import { maskedMeanPool } from "../../layers/pooling.ts";
import { defineModel } from "../definition.ts";
import { concatColumns } from "../features.ts";
import type { BatchTensors } from "../inputs.ts";
import type { RowSet } from "../rows.ts";
import { denseInput, denseInputSize, SingleDomainModel, singleStage, type BaselineOptions } from "./common.ts";

/** DIN's attention pooling of every sequence: pooled v_seq [n, seqSize] and each sequence's weights [n, L] (none for a mean-pooled one). */
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
 * features. Without shared features seq_target is keyed on the item id alone, and seq_source, which
 * then has no key in common with the candidate, is mean-pooled. Every hidden layer (activation unit,
 * MLP, tower) uses Dice, the DIN paper's activation: batch statistics in training, moving averages
 * at prediction. The front end only embeds; DIN owns its activation units so that their weights can
 * be read (attention()).
 */
export class DinModel extends SingleDomainModel {
  /** The activation unit of each sequence with a key (all of them but seq_source without shared features). */
  private readonly units: Map<string, SequenceUnit>;
  private readonly mlp: Mlp;
  private readonly tower: Tower;

  constructor(name: string, init: ParamInit, options: BaselineOptions) {
    super(name, init, options, { specificEntities: ["target"], pooling: "mean" });
    const { schema, sizes } = options;
    const fe = this.frontEnd;
    const candidate = new Set(fe.specificColumns.target);
    this.units = new Map(
      schema.sequences.flatMap(({ name: seq }): Array<[string, SequenceUnit]> => {
        const others = fe.elementColumns(seq).slice(fe.sharedColumns.length);
        const itemColumns = others.length > 0 && others.every((c) => candidate.has(c)) ? others : [];
        const dim = fe.sharedSize + itemColumns.length * fe.dim;
        if (dim === 0) return [];
        const unit = this.child(new DinAttention(this.scoped(`${seq}_attention`), init, { dim, hidden: sizes.attention, activation: "dice" }));
        return [[seq, { unit, itemColumns }]];
      }),
    );
    this.mlp = this.child(new Mlp(this.scoped("mlp"), init, { inputSize: denseInputSize(fe, ["target"]), sizes: sizes.mlp, activation: "dice" }));
    this.tower = this.child(new Tower(this.scoped("tower"), init, { inputSize: this.mlp.outputSize, hidden: sizes.tower, activation: "dice" }));
  }

  /**
   * Every sequence of `rows` pooled, in schema order, queried by the candidate (its v_shared [n,
   * sharedSize], plus its item id where the keys have one); a sequence without a unit is mean-pooled.
   */
  attention(batch: BatchTensors, shared: tf.Tensor2D | undefined, rows: RowSet, mode: ForwardMode): DinPooling {
    const weights: Record<string, tf.Tensor2D> = {};
    const pooled = this.frontEnd.sequenceNames.map((seq) => {
      const { keys, values, mask } = this.frontEnd.sequence(batch, seq, rows);
      const sequenceUnit = this.units.get(seq);
      if (sequenceUnit === undefined) return maskedMeanPool(values, mask);
      const { unit, itemColumns } = sequenceUnit;
      const keyed = itemColumns.length > 0;
      // A unit keyed on the shared features alone exists only where there are shared features.
      const query = keyed ? concatColumns([shared, this.frontEnd.columns(batch, itemColumns, rows)]) : shared!;
      const result = unit.apply(query, keyed ? values : keys!, mask, values, mode);
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

export const dinRecipe = defineModel({
  name: "din",
  label: "DIN",
  category: "single-domain",
  ...singleStage((init, schema, spec) => new DinModel("din", init, { schema, sizes: spec.sizes })),
});
