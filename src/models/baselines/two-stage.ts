import { tf } from "../../engine/index.ts";
import type { EntityName } from "../../data/batch.ts";
import { Module, ParamInit } from "../../layers/params.ts";
import type { BatchTensors } from "../inputs.ts";
import type { CtrModel, LossResult } from "../model.ts";
import { rowCount, sliceRows, type RowSet } from "../rows.ts";
import { BaselineModule, type BaselineOptions, type FrontEndChoice } from "./common.ts";

/**
 * The ParamInit of a recipe's `index`-th model, from its own seed derived from the run's seed: two
 * models built alike (e.g. a pre-trained and a fine-tuned one) must not start from equal weights.
 */
export function stageInit(seed: number, index: number): ParamInit {
  const root = new ParamInit(seed);
  for (let i = 0; i < index; i++) root.nextSeed();
  return new ParamInit(root.nextSeed());
}

/**
 * A model of one entity's rows (the stages of the pre-training & fine-tuning baselines): trained on
 * them, and predicting every row of a batch through its only path. For a source model,
 * predictTarget is a zero-shot prediction of target rows (its specific columns are id 0 there).
 */
export abstract class EntityModel extends BaselineModule implements CtrModel {
  readonly trainEntities: EntityName[];

  constructor(
    name: string,
    readonly entity: EntityName,
    init: ParamInit,
    options: BaselineOptions,
    frontEnd?: FrontEndChoice,
  ) {
    super(name, init, options, frontEnd);
    this.trainEntities = [entity];
  }

  get module(): Module {
    return this;
  }

  /** Logits of `rows` [n]. */
  abstract logits(batch: BatchTensors, rows: RowSet): tf.Tensor1D;

  /** BCE on the batch's rows of the model's entity (part bce_<entity>). */
  loss(batch: BatchTensors): LossResult {
    if (rowCount(batch, this.entity) === 0) throw new Error(`${this.name}: a training batch needs ${this.entity} rows`);
    const bce = tf.losses.sigmoidCrossEntropy(sliceRows(batch.label, batch, this.entity), this.logits(batch, this.entity)) as tf.Scalar;
    return { total: bce, parts: { [`bce_${this.entity}`]: bce } };
  }

  predictTarget(batch: BatchTensors): tf.Tensor1D {
    return tf.sigmoid(this.logits(batch, "all"));
  }
}
