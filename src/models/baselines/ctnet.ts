import { tf } from "../../engine/index.ts";
import { z } from "../../util/zod.ts";
import type { EntityName } from "../../data/batch.ts";
import type { PreparedDataset } from "../../data/reader.ts";
import type { PreparedSchema } from "../../data/schema.ts";
import { Glu } from "../../layers/glu.ts";
import { Mlp } from "../../layers/mlp.ts";
import { stageInit, type Module, type ParamInit } from "../../layers/params.ts";
import { stopGradient } from "../../layers/stop-gradient.ts";
import { Tower } from "../../layers/tower.ts";
import { defineModel, modelSection, sectionsOf } from "../definition.ts";
import type { BatchTensors } from "../inputs.ts";
import type { Stage } from "../recipe.ts";
import type { RowSet } from "../rows.ts";
import { denseInput, denseInputSize, EntityModel, type BaselineOptions } from "./common.ts";

/** CTNet's own hyperparameters: spec section `ctnet`. */
const ctnetSections = {
  ctnet: modelSection({
    /**
     * Train source and target models slice by slice in time order (the CTNet paper's continual
     * setting): auto = on when the prepared data is split by time (its rows carry time slices), off
     * for a per-user-order split, whose rows all sit in slice 0.
     */
    continual: z.union([z.boolean(), z.literal("auto")]).default("auto"),
  }),
};

export type CtnetContinual = z.output<typeof ctnetSections.ctnet>["continual"];

/**
 * CTNet's source model (SPEC §3): MLP sizes.mlp and a tower on [v_u ‖ v_seq ‖ v_shared] only (the
 * paper drops the specific features, CTNet being single-schema), sequences attention-pooled as in
 * MKT. Trained on source rows; every row can be read through it (no specific columns).
 */
export class CtnetSource extends EntityModel {
  private readonly dnn: Mlp;
  private readonly tower: Tower;

  constructor(name: string, init: ParamInit, options: BaselineOptions) {
    super(name, "source", init, options, { specificEntities: [] });
    const { sizes } = options;
    this.dnn = this.child(new Mlp(this.scoped("dnn"), init, { inputSize: denseInputSize(this.frontEnd, []), sizes: sizes.mlp }));
    this.tower = this.child(new Tower(this.scoped("tower"), init, { inputSize: this.dnn.outputSize, hidden: sizes.tower }));
  }

  /** The output of every hidden layer of the DNN on `rows`, in order. */
  hidden(batch: BatchTensors, rows: RowSet): tf.Tensor2D[] {
    const out: tf.Tensor2D[] = [];
    let h: tf.Tensor = denseInput(this.frontEnd, batch, rows, []);
    for (const layer of this.dnn.layers) out.push((h = layer.apply(h)) as tf.Tensor2D);
    return out;
  }

  logits(batch: BatchTensors, rows: RowSet): tf.Tensor1D {
    return this.tower.apply(this.hidden(batch, rows).at(-1)!);
  }
}

export interface CtnetTargetOptions extends BaselineOptions {
  /** Frozen by the constructor (setTrainable(false)) and owned as a child module. */
  source: CtnetSource;
}

/**
 * CTNet's target model: its own embeddings and a DNN (MLP sizes.mlp, tower) on [v_u ‖ v_seq ‖
 * v_shared ‖ flatten(v_spec^t)]; hidden layer l's output is h_l = ReLU(W_l h_{l−1} + b_l) +
 * GLU_l(s_l), s_l being the source model's hidden layer l on the same row (layer-wise adapters, as
 * CTNet's). The source model is frozen and read through stopGradient, so no gradient reaches it;
 * namedVariables() holds it (checkpoints save the whole model), trainableVariables() does not.
 */
export class CtnetTarget extends EntityModel {
  readonly source: CtnetSource;
  private readonly dnn: Mlp;
  private readonly adapters: readonly Glu[];
  private readonly head: Tower;
  private readonly ownBlocks: Module[];

  constructor(name: string, init: ParamInit, options: CtnetTargetOptions) {
    super(name, "target", init, options, { specificEntities: ["target"] });
    const { sizes, source } = options;
    this.dnn = this.child(new Mlp(this.scoped("dnn"), init, { inputSize: denseInputSize(this.frontEnd, ["target"]), sizes: sizes.mlp }));
    // Source and target DNNs both have sizes.mlp layers: layer l's adapter maps s_l to h_l's width.
    this.adapters = sizes.mlp.map((units, l) => this.child(new Glu(this.scoped(`adapter${l}`), init, { inputSize: units, outputSize: units })));
    this.head = this.child(new Tower(this.scoped("head"), init, { inputSize: this.dnn.outputSize, hidden: sizes.tower }));
    this.ownBlocks = [this.frontEnd, this.dnn, ...this.adapters, this.head];
    source.setTrainable(false);
    this.source = this.child(source);
  }

  /** The target model's own parameters (never the source model's, even if made trainable again). */
  override trainableVariables(): tf.Variable[] {
    return this.ownBlocks.flatMap((m) => m.trainableVariables());
  }

  logits(batch: BatchTensors, rows: RowSet): tf.Tensor1D {
    const source = this.source.hidden(batch, rows);
    let h: tf.Tensor = denseInput(this.frontEnd, batch, rows, ["target"]);
    this.dnn.layers.forEach((layer, l) => (h = tf.add(layer.apply(h), this.adapters[l]!.apply(stopGradient(source[l]!)))));
    return this.head.apply(h);
  }
}

/** Whether CTNet trains continually: spec `ctnet.continual`, where `auto` means "when the data is split by time". */
export function ctnetContinual(setting: CtnetContinual, schema: PreparedSchema): boolean {
  return setting === "auto" ? schema.split.by === "time" : setting;
}

/**
 * The stages in order. Not continual: "source" (early-stopped on the target valid AUC of its zero-shot
 * predictions, see finetuneRecipe), then "target". Continual (see ctnetContinual): for each time slice
 * of the training split in ascending order, "slice-<k>-source" trains the source model on the
 * slice's source rows, then "slice-<k>-target" the target model on its target rows, one epoch
 * each without validation (a slice is seen once, as the stream of continual learning; the valid
 * split lies after every training slice). A slice without rows of an entity has no stage for it.
 */
export async function ctnetStages(dataset: PreparedDataset, continual: boolean): Promise<Stage[]> {
  // The source model trains in its stages though the target model, once built, owns and freezes it.
  const stage = (name: string, entity: EntityName, options: Stage["options"] = {}): Stage => ({ name, model: entity, options: { entities: [entity], ...options }, ...(entity === "source" ? { thaw: true } : {}) });
  if (!continual) return [stage("source", "source"), stage("target", "target")];
  const has = {
    source: new Set(await dataset.slices("train", ["source"])),
    target: new Set(await dataset.slices("train", ["target"])),
  };
  const slices = [...new Set([...has.source, ...has.target])].sort((a, b) => a - b);
  return slices.flatMap((slice) =>
    (["source", "target"] as const)
      .filter((entity) => has[entity].has(slice))
      .map((entity) => stage(`slice-${slice}-${entity}`, entity, { slices: [slice], validation: "none", maxEpochs: 1 })),
  );
}

/**
 * CTNet (SPEC §3): the source model trains on source rows, then the target model, reading the
 * frozen source model through its adapters, on target rows; in continual mode the two alternate
 * over the time slices (see ctnetStages). The source model is trainable only during its own stages.
 * The target model, which owns the source model, is built at its first stage.
 */
export const ctnetRecipe = defineModel({
  name: "ctnet",
  label: "CTNet",
  category: "pre-training & fine-tuning",
  sections: ctnetSections,
  models: {
    source: { build: ({ schema, spec, seed }) => new CtnetSource("ctnet_source", stageInit(seed, 0), { schema, sizes: spec.sizes }) },
    target: {
      owns: ["source"],
      build: ({ schema, spec, seed }, inputs) => new CtnetTarget("ctnet", stageInit(seed, 1), { schema, sizes: spec.sizes, source: inputs["source"] as CtnetSource }),
    },
  },
  async stages(context, dataset) {
    const stages = await ctnetStages(dataset, ctnetContinual(sectionsOf(ctnetSections, context.spec).ctnet.continual, context.schema));
    if (!stages.some((s) => s.model === "target")) throw new Error("ctnet: the training split has no target rows");
    return stages;
  },
  final: "target",
});
