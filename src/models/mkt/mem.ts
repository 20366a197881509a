import { tf } from "../../engine/index.ts";
import { ENTITY_NAMES, type EntityName } from "../../data/batch.ts";
import type { PreparedSchema } from "../../data/schema.ts";
import { cosineSimilarity } from "../../layers/cosine.ts";
import { Mlp } from "../../layers/mlp.ts";
import { Module, type ParamInit } from "../../layers/params.ts";
import { Ple } from "../../layers/ple.ts";
import { Tower } from "../../layers/tower.ts";
import type { ExperimentSpec } from "../../spec/experiment-common.ts";
import { UserError } from "../../util/errors.ts";
import { concatColumns, FeatureFrontEnd } from "../features.ts";
import type { BatchTensors } from "../inputs.ts";
import type { CtrModel, LossResult } from "../model.ts";
import { forEntity, rowCount, sliceRows, type RowSet } from "../rows.ts";
import { Hfa } from "./hfa.ts";
import type { MemSpec } from "./sections.ts";

export type ModelSizes = ExperimentSpec["sizes"];

export interface MemOptions {
  schema: PreparedSchema;
  sizes: ModelSizes;
  /** γ, the weight of the PDL term; 0 for the w/o PDL ablation. */
  gamma: number;
  /** false for the w/o HFA ablation; default true. */
  hfa?: boolean;
  /** Depth of HFA's cross network (spec mem.hfa_cross_layers); default 2. */
  hfaCrossLayers?: number;
  /** How the BCE of the batch's rows is weighted (spec mem.loss_weighting); default "rows", eq. 13. */
  lossWeighting?: MemSpec["loss_weighting"];
}

/** What MEM hands to TEM for the rows it is asked about (all read through the target path). */
export interface TargetKnowledge {
  /** v_u [n, userSize]. */
  user: tf.Tensor2D;
  /** v_seq [n, seqSize]. */
  seq: tf.Tensor2D;
  /** v_shared [n, sharedSize]; absent without shared features. */
  shared: tf.Tensor2D | undefined;
  /** g_com^t [n, d_CKE]. */
  common: tf.Tensor2D;
  /** g_ind^t [n, d_CKE] (TKE's output), when asked for (tem.knowledge common+target). */
  independent?: tf.Tensor2D;
}

/** Widths of the TargetKnowledge tensors (TEM sizes its GLU gates from them). */
export type KnowledgeSizes = Record<keyof TargetKnowledge, number>;

/** One entity's path through MEM. */
export interface MemEntityOutput {
  /** g_com^e from CKE [n_e, d_CKE]. */
  common: tf.Tensor2D;
  /** g_ind^e from SKE/TKE [n_e, d_CKE]. */
  independent: tf.Tensor2D;
  logits: tf.Tensor1D;
  /** HFA's p^e [n_e, n_spec^e] (absent without HFA). */
  importance?: tf.Tensor2D;
}

interface CommonPath extends TargetKnowledge {
  vSpec: tf.Tensor3D;
  importance?: tf.Tensor2D;
}

/**
 * MKT's Multi-Entity Model (SPEC §2, stage 1), trained on source and target rows mixed. Each
 * entity's rows take their own path: HFA^e aligns the specific features, CKE (PLE over the two
 * entities) reads q^e = [v_u ‖ v_seq ‖ v_shared ‖ aligned^e], SKE/TKE read
 * v^e = [v_u ‖ v_seq ‖ v_shared ‖ flatten(v_spec^e)], and tower_e reads [g_com^e ‖ g_ind^e].
 * The module is the model: its name scopes every parameter ("mem/…").
 */
export class MultiEntityModel extends Module implements CtrModel {
  readonly trainEntities: EntityName[] = ["source", "target"];
  readonly gamma: number;
  readonly lossWeighting: NonNullable<MemOptions["lossWeighting"]>;
  readonly frontEnd: FeatureFrontEnd;
  readonly knowledgeSizes: KnowledgeSizes;
  private readonly hfa: Record<EntityName, Hfa>;
  private readonly cke: Ple;
  private readonly independent: Record<EntityName, Mlp>;
  private readonly towers: Record<EntityName, Tower>;

  constructor(name: string, init: ParamInit, options: MemOptions) {
    super(name);
    const { schema, sizes } = options;
    const dCke = sizes.cke_levels.at(-1);
    if (sizes.mlp.at(-1) !== dCke) {
      // PDL compares g_com and g_ind row by row, so they must have the same width (SPEC: both 512).
      throw new UserError(`sizes: the last of sizes.mlp (${sizes.mlp.at(-1)}) must equal the last of sizes.cke_levels (${dCke}) for MKT`);
    }
    this.gamma = options.gamma;
    this.lossWeighting = options.lossWeighting ?? "rows";
    const E = sizes.embedding_dim;
    this.frontEnd = this.child(new FeatureFrontEnd(this.scoped("features"), init, schema, { dim: E, attentionHidden: sizes.attention }));
    const fe = this.frontEnd;
    const hfa = (entity: EntityName): Hfa =>
      this.child(
        new Hfa(this.scoped(`hfa_${entity}`), init, {
          fields: fe.specificCount(entity),
          dim: E,
          outputSize: sizes.hfa_dim,
          crossLayers: options.hfaCrossLayers,
          enabled: options.hfa,
        }),
      );
    this.hfa = { source: hfa("source"), target: hfa("target") };
    const context = fe.userSize + fe.seqSize + fe.sharedSize;
    this.cke = this.child(
      new Ple(this.scoped("cke"), init, {
        inputSize: context + sizes.hfa_dim,
        levelSizes: sizes.cke_levels,
        sharedExperts: sizes.cke_shared_experts,
        entityExperts: sizes.cke_entity_experts,
      }),
    );
    const extractor = (entity: EntityName, local: string): Mlp =>
      this.child(new Mlp(this.scoped(local), init, { inputSize: context + fe.specificCount(entity) * E, sizes: sizes.mlp }));
    this.independent = { source: extractor("source", "ske"), target: extractor("target", "tke") };
    const tower = (entity: EntityName): Tower =>
      this.child(new Tower(this.scoped(`tower_${entity}`), init, { inputSize: 2 * this.cke.outputSize, hidden: sizes.tower }));
    this.towers = { source: tower("source"), target: tower("target") };
    this.knowledgeSizes = {
      user: fe.userSize,
      seq: fe.seqSize,
      shared: fe.sharedSize,
      common: this.cke.outputSize,
      independent: this.independent.target.outputSize,
    };
  }

  get module(): Module {
    return this;
  }

  /** Per entity with rows in the batch: its path's outputs on its own rows. */
  entityOutputs(batch: BatchTensors): Partial<Record<EntityName, MemEntityOutput>> {
    const out: Partial<Record<EntityName, MemEntityOutput>> = {};
    for (const entity of ENTITY_NAMES) if (rowCount(batch, entity) > 0) out[entity] = this.entityPath(batch, entity, entity);
    return out;
  }

  /**
   * Eq. 13 and 12: BCE + γ·(mean cos(g_com^s, g_ind^s) + mean cos(g_com^t, g_ind^t)), each cosine mean
   * over that entity's rows (0 for an entity without rows in the batch). BCE is, with loss weighting
   * "rows" (eq. 13), the sum of every row's BCE divided by the batch size; with "entities", each
   * entity's mean BCE, summed. Parts: bce_source and bce_target (each entity's mean BCE, 0 without
   * rows), pdl (the unweighted cosine sum, logged even when γ = 0), cos_source and cos_target.
   */
  loss(batch: BatchTensors): LossResult {
    if (batch.size === 0) throw new Error(`${this.name}: empty training batch`);
    const outputs = this.entityOutputs(batch);
    // Per-row BCE and cos(g_com^e, g_ind^e) of each entity with rows in the batch.
    const perRow: Partial<Record<EntityName, { bce: tf.Tensor1D; cosine: tf.Tensor1D }>> = {};
    for (const entity of ENTITY_NAMES) {
      const out = outputs[entity];
      if (out === undefined) continue;
      const labels = sliceRows(batch.label, batch, entity);
      const bce = tf.losses.sigmoidCrossEntropy(labels, out.logits, undefined, undefined, tf.Reduction.NONE) as tf.Tensor1D;
      perRow[entity] = { bce, cosine: cosineSimilarity(out.common, out.independent) };
    }
    const mean = (x: tf.Tensor1D | undefined): tf.Scalar => (x === undefined ? tf.scalar(0) : tf.mean(x));
    const bceMean = { source: mean(perRow.source?.bce), target: mean(perRow.target?.bce) };
    const cosine = { source: mean(perRow.source?.cosine), target: mean(perRow.target?.cosine) };
    const pdl = tf.add(cosine.source, cosine.target) as tf.Scalar;
    const rowBce = ENTITY_NAMES.flatMap((e) => (perRow[e] ? [perRow[e].bce] : []));
    let total =
      this.lossWeighting === "rows"
        ? (tf.div(tf.addN(rowBce.map((bce) => tf.sum(bce))), batch.size) as tf.Scalar)
        : (tf.add(bceMean.source, bceMean.target) as tf.Scalar);
    if (this.gamma !== 0) total = tf.add(total, tf.mul(pdl, this.gamma));
    return { total, parts: { bce_source: bceMean.source, bce_target: bceMean.target, pdl, cos_source: cosine.source, cos_target: cosine.target } };
  }

  /** sigmoid(tower_t) with every row read as a target row (w/o TEM finetune; valid AUC while pre-training). */
  predictTarget(batch: BatchTensors): tf.Tensor1D {
    return tf.sigmoid(this.entityPath(batch, "target", "all").logits);
  }

  /**
   * v_u, v_seq, v_shared and g_com^t of `rows`, read as target rows (TEM's inputs from MEM), and
   * g_ind^t too when `independent` is set.
   */
  targetKnowledge(batch: BatchTensors, rows: RowSet = "all", independent = false): TargetKnowledge {
    const path = this.commonPath(batch, "target", rows);
    const { user, seq, shared, common } = path;
    if (!independent) return { user, seq, shared, common };
    return { user, seq, shared, common, independent: this.independentKnowledge(batch, "target", rows, path) };
  }

  /** HFA's p^e per entity with rows in the batch, on its own rows; empty without HFA. */
  importance(batch: BatchTensors): Partial<Record<EntityName, tf.Tensor2D>> {
    const out: Partial<Record<EntityName, tf.Tensor2D>> = {};
    for (const entity of ENTITY_NAMES) {
      if (rowCount(batch, entity) === 0) continue;
      const p = this.hfa[entity].apply(this.frontEnd.specific(batch, entity)).importance;
      if (p !== undefined) out[entity] = p;
    }
    return out;
  }

  /** Everything up to CKE for `rows` read through entity e's path. */
  private commonPath(batch: BatchTensors, entity: EntityName, rows: RowSet): CommonPath {
    const fe = this.frontEnd;
    const user = fe.user(batch, rows);
    const shared = fe.shared(batch, rows);
    const seq = fe.pooledSequences(batch, shared, rows);
    const vSpec = fe.specific(batch, entity, rows);
    const { aligned, importance } = this.hfa[entity].apply(vSpec);
    const q = concatColumns([user, seq, shared, aligned]);
    const common = this.cke.apply(forEntity(entity, q))[entity].output;
    return { user, seq, shared, common, vSpec, importance };
  }

  /** g_ind^e = SKE/TKE(v^e), v^e = [v_u ‖ v_seq ‖ v_shared ‖ flatten(v_spec^e)], from the parts `path` already has. */
  private independentKnowledge(batch: BatchTensors, entity: EntityName, rows: RowSet, path: CommonPath): tf.Tensor2D {
    const flatSpec = path.vSpec.reshape([rowCount(batch, rows), -1]);
    return this.independent[entity].apply(concatColumns([path.user, path.seq, path.shared, flatSpec as tf.Tensor2D])) as tf.Tensor2D;
  }

  private entityPath(batch: BatchTensors, entity: EntityName, rows: RowSet): MemEntityOutput {
    const path = this.commonPath(batch, entity, rows);
    const independent = this.independentKnowledge(batch, entity, rows, path);
    const logits = this.towers[entity].apply(tf.concat([path.common, independent], 1));
    return { common: path.common, independent, logits, importance: path.importance };
  }
}
