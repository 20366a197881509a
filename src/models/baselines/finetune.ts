import { tf } from "../../engine/index.ts";
import type { EntityName } from "../../data/batch.ts";
import { Dense } from "../../layers/dense.ts";
import { Mlp } from "../../layers/mlp.ts";
import { stageInit, type ParamInit } from "../../layers/params.ts";
import { restorePartial } from "../../layers/shared-weights.ts";
import { Tower } from "../../layers/tower.ts";
import { defineModel } from "../definition.ts";
import type { BatchTensors } from "../inputs.ts";
import type { BuildContext } from "../recipe.ts";
import { rowCount, type RowSet } from "../rows.ts";
import { denseInput, denseInputSize, EntityModel, type BaselineOptions } from "./common.ts";

/**
 * Finetune's network for one entity e (SPEC §3): a DNN, MLP sizes.mlp then a tower, on
 * [v_u ‖ v_seq ‖ v_shared ‖ FC_e(flatten(v_spec^e))], sequences attention-pooled as in MKT. FC_e is
 * Dense(d_HFA = sizes.hfa_dim) + ReLU, as in MKT without HFA: it maps each entity's specific
 * features to the same width, so everything after it is shared between the pre-trained (source)
 * and the fine-tuned (target) network. Both are named "finetune": the parameters they share have
 * the same names.
 */
export class FinetuneNet extends EntityModel {
  private readonly fc: Dense;
  private readonly dnn: Mlp;
  private readonly tower: Tower;

  constructor(name: string, init: ParamInit, options: BaselineOptions, entity: EntityName) {
    super(name, entity, init, options, { specificEntities: [entity] });
    const { sizes } = options;
    const E = sizes.embedding_dim;
    const fe = this.frontEnd;
    this.fc = this.child(
      new Dense(this.scoped(`fc_${entity}`), init, { inputSize: fe.specificCount(entity) * E, units: sizes.hfa_dim, activation: "relu" }),
    );
    this.dnn = this.child(new Mlp(this.scoped("dnn"), init, { inputSize: denseInputSize(fe, []) + sizes.hfa_dim, sizes: sizes.mlp }));
    this.tower = this.child(new Tower(this.scoped("tower"), init, { inputSize: this.dnn.outputSize, hidden: sizes.tower }));
  }

  logits(batch: BatchTensors, rows: RowSet): tf.Tensor1D {
    const fe = this.frontEnd;
    const specific = fe.specific(batch, this.entity, rows).reshape([rowCount(batch, rows), -1]);
    return this.tower.apply(this.dnn.apply(tf.concat([denseInput(fe, batch, rows, []), this.fc.apply(specific)], 1)));
  }
}

/** The recipe's pre-trained (source) or fine-tuned (target) network, each from its own seed. */
export function buildFinetuneNet(context: BuildContext, entity: EntityName): FinetuneNet {
  const options = { schema: context.schema, sizes: context.spec.sizes };
  return new FinetuneNet("finetune", stageInit(context.seed, entity === "source" ? 0 : 1), options, entity);
}

/**
 * "pretrain": the source network on source rows, early-stopped on the target valid AUC of its
 * zero-shot predictions (target rows read through the source path, whose specific ids are 0 there):
 * the epoch whose knowledge transfers best, without running max_epochs past where CTR models
 * overfit. "finetune": the target network starts from every pre-trained weight it shares (user,
 * shared and sequence embeddings, both sequences' item-id tables, attention units, DNN, tower);
 * its other target-specific embeddings and FC_t are fresh. It trains on target rows, validated on
 * target as usual.
 */
export const finetuneRecipe = defineModel({
  name: "finetune",
  label: "Finetune",
  category: "pre-training & fine-tuning",
  models: {
    source: { build: (context) => buildFinetuneNet(context, "source") },
    target: {
      reads: ["source"],
      build: (context, { source }) => {
        const model = buildFinetuneNet(context, "target");
        restorePartial(model, source!.module.namedVariables());
        return model;
      },
    },
  },
  stages: () => [
    { name: "pretrain", model: "source", options: { entities: ["source"] } },
    { name: "finetune", model: "target", options: { entities: ["target"] } },
  ],
  final: "target",
});
