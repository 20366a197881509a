import { tf } from "../../engine/index.ts";
import type { EntityName } from "../../data/batch.ts";
import type { PreparedSchema } from "../../data/schema.ts";
import { Glu } from "../../layers/glu.ts";
import { Mlp } from "../../layers/mlp.ts";
import { Module, type ParamInit } from "../../layers/params.ts";
import { stopGradient } from "../../layers/stop-gradient.ts";
import { Tower } from "../../layers/tower.ts";
import { concatColumns, FeatureFrontEnd } from "../features.ts";
import type { BatchTensors } from "../inputs.ts";
import type { CtrModel, LossResult } from "../model.ts";
import { rowCount, sliceRows, type RowSet } from "../rows.ts";
import type { ModelSizes, MultiEntityModel, TargetKnowledge } from "./mem.ts";
import type { TemSpec } from "./sections.ts";

export type TemKnowledge = TemSpec["knowledge"];

/** MEM's vectors "with the same semantics" as TEM's (§3.3): what the paper transfers. */
type SameSemantics = "user" | "seq" | "shared" | "common";

export interface TemOptions {
  schema: PreparedSchema;
  sizes: ModelSizes;
  /** The pre-trained MEM: frozen by the constructor (setTrainable(false)) and owned as a child module. */
  mem: MultiEntityModel;
  /** What the cross part gets from MEM (spec tem.knowledge); default "common", the paper's. */
  knowledge?: TemKnowledge;
}

/**
 * MKT's Target Entity Model (SPEC §2, stage 2), trained on target rows only. It has its own
 * embeddings and sequence encoders; for X ∈ {u, seq, shared}, X_final = X^TEM + GLU(X^MEM), and
 * g_cross_final = g_cross + GLU(g_com^t), where g_cross = MLP([v_u_final ‖ v_seq_final ‖
 * v_shared_final ‖ flatten(v_spec^TEM)]); the head tower gives the logit. TEM's own attention query
 * is its own v_shared^TEM (not the fused one), so v_seq^TEM is TEM's encoding, as for MEM.
 *
 * With knowledge "common+target" (beyond the paper, which transfers only knowledge "with the same
 * semantics", §3.3), MEM's g_ind^t joins too: g_cross_final = g_cross + GLU(g_com^t) + GLU(g_ind^t).
 *
 * Without shared features there is no v_shared on either side, hence no GLU for it.
 *
 * MEM is frozen and its outputs pass through stopGradient, so no gradient reaches it. The module
 * holds MEM as a child: namedVariables() (what checkpoints save) is the whole stage-2 model, able
 * to predict alone, while trainableVariables() is TEM's own parameters only.
 */
export class TargetEntityModel extends Module implements CtrModel {
  readonly trainEntities: EntityName[] = ["target"];
  readonly mem: MultiEntityModel;
  readonly knowledge: TemKnowledge;
  private readonly frontEnd: FeatureFrontEnd;
  /** The GLU on each of MEM's vectors the paper transfers (none for v_shared without shared features). */
  private readonly gates: Record<Exclude<SameSemantics, "shared">, Glu> & { shared: Glu | undefined };
  /** The GLU on g_ind^t (knowledge "common+target" only). */
  private readonly independentGate: Glu | undefined;
  private readonly cross: Mlp;
  private readonly head: Tower;
  private readonly ownBlocks: Module[];

  constructor(name: string, init: ParamInit, options: TemOptions) {
    super(name);
    const { schema, sizes, mem } = options;
    this.knowledge = options.knowledge ?? "common";
    const E = sizes.embedding_dim;
    this.frontEnd = this.child(
      new FeatureFrontEnd(this.scoped("features"), init, schema, { dim: E, specificEntities: ["target"], attentionHidden: sizes.attention }),
    );
    const fe = this.frontEnd;
    const from = mem.knowledgeSizes;
    this.cross = this.child(
      new Mlp(this.scoped("cross"), init, {
        inputSize: fe.userSize + fe.seqSize + fe.sharedSize + fe.specificCount("target") * E,
        sizes: sizes.mlp,
      }),
    );
    const gate = (key: keyof TargetKnowledge, outputSize: number): Glu =>
      this.child(new Glu(this.scoped(`glu_${key}`), init, { inputSize: from[key], outputSize }));
    this.gates = {
      user: gate("user", fe.userSize),
      seq: gate("seq", fe.seqSize),
      shared: fe.sharedSize > 0 ? gate("shared", fe.sharedSize) : undefined,
      common: gate("common", this.cross.outputSize),
    };
    this.independentGate = this.knowledge === "common+target" ? gate("independent", this.cross.outputSize) : undefined;
    this.head = this.child(new Tower(this.scoped("head"), init, { inputSize: this.cross.outputSize, hidden: sizes.tower }));
    this.ownBlocks = [fe, this.cross, ...Object.values(this.gates), this.independentGate, this.head].filter((m) => m !== undefined);
    mem.setTrainable(false);
    this.mem = this.child(mem);
  }

  get module(): Module {
    return this;
  }

  /** TEM's own parameters (never MEM's, even if someone made MEM trainable again). */
  override trainableVariables(): tf.Variable[] {
    return this.ownBlocks.flatMap((m) => m.trainableVariables());
  }

  /** BCE on the batch's target rows (part bce_target). */
  loss(batch: BatchTensors): LossResult {
    if (rowCount(batch, "target") === 0) throw new Error(`${this.name}: a TEM training batch needs target rows`);
    const bce = tf.losses.sigmoidCrossEntropy(sliceRows(batch.label, batch, "target"), this.logits(batch, "target")) as tf.Scalar;
    return { total: bce, parts: { bce_target: bce } };
  }

  /** Every row read as a target row. */
  predictTarget(batch: BatchTensors): tf.Tensor1D {
    return tf.sigmoid(this.logits(batch, "all"));
  }

  private logits(batch: BatchTensors, rows: RowSet): tf.Tensor1D {
    const fe = this.frontEnd;
    const mem = this.mem.targetKnowledge(batch, rows, this.independentGate !== undefined);
    const fused = (key: SameSemantics, own: tf.Tensor): tf.Tensor2D => tf.add(own, this.gates[key]!.apply(stopGradient(mem[key]!))) as tf.Tensor2D;
    const shared = fe.shared(batch, rows);
    const vSpec = fe.specific(batch, "target", rows).reshape([rowCount(batch, rows), -1]) as tf.Tensor2D;
    const input = concatColumns([
      fused("user", fe.user(batch, rows)),
      fused("seq", fe.pooledSequences(batch, shared, rows)),
      shared && fused("shared", shared),
      vSpec,
    ]);
    let cross = fused("common", this.cross.apply(input));
    if (this.independentGate !== undefined && mem.independent !== undefined) {
      cross = tf.add(cross, this.independentGate.apply(stopGradient(mem.independent)));
    }
    return this.head.apply(cross);
  }
}
