import { tf } from "../../engine/index.ts";
import { ENTITY_NAMES, type EntityName } from "../../data/batch.ts";
import type { PreparedSchema } from "../../data/schema.ts";
import type { ForwardMode } from "../../layers/mode.ts";
import { Module, ParamInit } from "../../layers/params.ts";
import { Tower } from "../../layers/tower.ts";
import type { ExperimentSpec } from "../../spec/experiment-common.ts";
import { concatColumns, FeatureFrontEnd, type FeatureFrontEndOptions } from "../features.ts";
import type { BatchTensors } from "../inputs.ts";
import type { CtrModel, LossResult } from "../model.ts";
import type { ModelRecipe } from "../recipe.ts";
import { rowCount, sliceRows, type RowSet } from "../rows.ts";

/** What every baseline of this folder is built from. */
export interface BaselineOptions {
  schema: PreparedSchema;
  sizes: ExperimentSpec["sizes"];
}

/** A recipe's one stage, "train", of one model built from the run's schema, spec and seed. */
export function singleStage(build: (init: ParamInit, schema: PreparedSchema, spec: ExperimentSpec) => CtrModel): Pick<ModelRecipe, "models" | "stages" | "final"> {
  return {
    models: { model: { build: (context) => build(new ParamInit(context.seed), context.schema, context.spec) } },
    stages: () => [{ name: "train", model: "model" }],
    final: "model",
  };
}

/** Width of denseInput's output. */
export function denseInputSize(fe: FeatureFrontEnd, specific: readonly EntityName[]): number {
  return fe.userSize + fe.seqSize + fe.sharedSize + specific.reduce((sum, e) => sum + fe.specificCount(e) * fe.dim, 0);
}

/**
 * [v_u ‖ v_seq ‖ v_shared ‖ flatten(v_spec^e) for e in `specific`] of `rows` [n, denseInputSize].
 * Every part is a whole number of E-wide fields. v_seq is the front end's pooling queried by
 * v_shared, unless `pool` (given v_shared) provides it. Joint models pass both entities: the naive
 * union schema, where a row's other-entity columns are id 0 as in the data. Without shared
 * features v_shared is absent (zero-width).
 */
export function denseInput(
  fe: FeatureFrontEnd,
  batch: BatchTensors,
  rows: RowSet,
  specific: readonly EntityName[],
  pool: (shared: tf.Tensor2D | undefined) => tf.Tensor2D = (shared) => fe.pooledSequences(batch, shared, rows),
): tf.Tensor2D {
  const n = rowCount(batch, rows);
  const shared = fe.shared(batch, rows);
  const spec = specific.map((e) => fe.specific(batch, e, rows).reshape([n, fe.specificCount(e) * fe.dim]) as tf.Tensor2D);
  return concatColumns([fe.user(batch, rows), pool(shared), shared, ...spec]);
}

/** How a baseline's front end differs from the default (both entities' specific features, attention pooling). */
export type FrontEndChoice = Omit<FeatureFrontEndOptions, "dim" | "attentionHidden">;

/** A baseline: its feature front end, created first, and the blocks it builds with. */
export abstract class BaselineModule extends Module {
  /** "<name>/features": E = sizes.embedding_dim, attention units sizes.attention. */
  readonly frontEnd: FeatureFrontEnd;

  constructor(name: string, init: ParamInit, { schema, sizes }: BaselineOptions, frontEnd: FrontEndChoice = {}) {
    super(name);
    this.frontEnd = this.child(new FeatureFrontEnd(this.scoped("features"), init, schema, { dim: sizes.embedding_dim, attentionHidden: sizes.attention, ...frontEnd }));
  }

  get module(): Module {
    return this;
  }

  /** One tower per entity, "<name>/tower_source" then "<name>/tower_target", on `inputSize` features. */
  protected entityTowers(init: ParamInit, inputSize: number, hidden: readonly number[]): Record<EntityName, Tower> {
    const tower = (entity: EntityName): Tower => this.child(new Tower(this.scoped(`tower_${entity}`), init, { inputSize, hidden }));
    return { source: tower("source"), target: tower("target") };
  }
}

/**
 * A model of one entity's rows: trained on them, and predicting every row of a batch through its only
 * path. For a source model (the stages of the pre-training & fine-tuning baselines), predictTarget is
 * a zero-shot prediction of target rows (its specific columns are id 0 there).
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

  /** Logits of `rows` [n]; `mode` matters only to models with batch statistics (DIN's Dice). */
  abstract logits(batch: BatchTensors, rows: RowSet, mode: ForwardMode): tf.Tensor1D;

  /** BCE on the batch's rows of the model's entity (part bce_<entity>). */
  loss(batch: BatchTensors): LossResult {
    if (rowCount(batch, this.entity) === 0) throw new Error(`${this.name}: a training batch needs ${this.entity} rows`);
    const bce = tf.losses.sigmoidCrossEntropy(sliceRows(batch.label, batch, this.entity), this.logits(batch, this.entity, "train")) as tf.Scalar;
    return { total: bce, parts: { [`bce_${this.entity}`]: bce } };
  }

  predictTarget(batch: BatchTensors): tf.Tensor1D {
    return tf.sigmoid(this.logits(batch, "all", "predict"));
  }
}

/** A single-domain baseline: trained on target rows, every row read as a target row. */
export abstract class SingleDomainModel extends EntityModel {
  constructor(name: string, init: ParamInit, options: BaselineOptions, frontEnd?: FrontEndChoice) {
    super(name, "target", init, options, frontEnd);
  }
}

/**
 * A joint-training baseline: one model on source and target rows mixed, each row through its own
 * entity's path; predictions are read through the target path.
 */
export abstract class JointModel extends BaselineModule implements CtrModel {
  readonly trainEntities: EntityName[] = ["source", "target"];

  /** Logits of `rows` read through `entity`'s path [n]; `mode` matters only to models with batch statistics (STAR's). */
  abstract logits(batch: BatchTensors, entity: EntityName, rows: RowSet, mode: ForwardMode): tf.Tensor1D;

  /** Training logit of every row through its own entity's path, in tensor row order (source rows first) [B]. */
  rowLogits(batch: BatchTensors): tf.Tensor1D {
    const parts = ENTITY_NAMES.filter((e) => rowCount(batch, e) > 0).map((e) => this.logits(batch, e, e, "train"));
    return (parts.length === 1 ? parts[0]! : tf.concat(parts)) as tf.Tensor1D;
  }

  /** Mean BCE over all rows; parts bce_source and bce_target are the means over each entity's rows (0 without rows). */
  loss(batch: BatchTensors): LossResult {
    if (batch.size === 0) throw new Error(`${this.name}: empty training batch`);
    const perRow = tf.losses.sigmoidCrossEntropy(batch.label, this.rowLogits(batch), undefined, undefined, tf.Reduction.NONE);
    const entityMean = (e: EntityName): tf.Scalar => (rowCount(batch, e) === 0 ? tf.scalar(0) : tf.mean(sliceRows(perRow, batch, e)));
    return { total: tf.mean(perRow), parts: { bce_source: entityMean("source"), bce_target: entityMean("target") } };
  }

  predictTarget(batch: BatchTensors): tf.Tensor1D {
    return tf.sigmoid(this.logits(batch, "target", "all", "predict"));
  }
}
