import { z } from "../util/zod.ts";
import type { EntityName } from "../data/batch.ts";
import type { PreparedDataset } from "../data/reader.ts";
import type { PreparedSchema } from "../data/schema.ts";
import type { ExperimentSpec } from "../spec/experiment-common.ts";
import { jsonNumber } from "../util/json.ts";
import type { CtrModel } from "./model.ts";

/**
 * Table 2's categories, in its order (its rows are grouped by them); "reference": its untrained
 * floor and ceiling rows (ItemPop, Oracle).
 */
export const MODEL_CATEGORIES = ["single-domain", "joint training", "pre-training & fine-tuning", "ours", "reference"] as const;
export const modelCategorySchema = z.enum(MODEL_CATEGORIES);
export type ModelCategory = z.infer<typeof modelCategorySchema>;

/** What one training stage did (or, when resumed, what it had done): part of result.json. */
export const stageRecordSchema = z.object({
  stage: z.string(),
  /** Wall time of the stage in seconds (0 if it was loaded from its checkpoint). */
  seconds: z.number(),
  epochsRun: z.number().int(),
  bestEpoch: z.number().int(),
  /** NaN (null in JSON) when the stage had no validation. */
  bestValidAuc: jsonNumber,
  /** Training samples per second over the stage's epochs. */
  samplesPerSecond: jsonNumber,
  /** True when the checkpoint existed and was loaded instead of training. */
  resumed: z.boolean(),
});
export type StageRecord = z.output<typeof stageRecordSchema>;

/** How a stage trains its model (the trainer's options a recipe sets). */
export interface StageOptions {
  /** Rows to train on (default: the model's trainEntities), e.g. ["source"] to pre-train a model. */
  entities?: readonly EntityName[];
  /**
   * "target" (default): validate on the target valid split after each epoch, stop early after
   * `patience` epochs without improvement and keep the best epoch. "none": no validation, run every
   * epoch and keep the last (e.g. a continual slice, or a model whose target AUC means nothing).
   */
  validation?: "target" | "none";
  /** Only training rows of these time slices (continual training, e.g. CTNet). */
  slices?: readonly number[];
  /** Overrides training.max_epochs (with validation "none", the exact number of epochs). */
  maxEpochs?: number;
}

/** What a recipe builds its models from. */
export interface BuildContext {
  schema: PreparedSchema;
  spec: ExperimentSpec;
  seed: number;
}

/** One model of a recipe, built when a stage (or the evaluation) first needs it. */
export interface RecipeModel {
  /** Models it is built around and owns from then on (e.g. TEM freezes MEM): they live as long as it does. */
  owns?: readonly string[];
  /** Models it is built from (e.g. weights copied): released once no later stage needs them. */
  reads?: readonly string[];
  /** Builds it from the models it owns or reads (by key), as the stages before it left them. */
  build(context: BuildContext, inputs: Readonly<Record<string, CtrModel>>): CtrModel;
}

/** One training stage; `stage-<name>/` of the run holds its checkpoint: the weights of its model at its end. */
export interface Stage {
  name: string;
  /** Key of the recipe model it trains. */
  model: string;
  options?: StageOptions;
  /** The model trains in this stage even where a model owning it froze it (CTNet's source model). */
  thaw?: boolean;
  /** The recipe whose run owns this stage (w/o TEM finetune reads full MKT's pretrain): trained once, there. */
  sharedWith?: string;
}

/**
 * How a model of Table 2 (or an MKT ablation of Table 4) is trained, as data: its models, the
 * stages that train them in order, and the model evaluated at the end. One runner (src/run/stages.ts)
 * runs every recipe, and a replica worker builds the model of one stage from it alone.
 */
export interface ModelRecipe {
  /** Directory and report name, e.g. "mkt", "mkt-wo_pdl", "fibinet". */
  name: string;
  category: ModelCategory;
  models: Readonly<Record<string, RecipeModel>>;
  /** The stages in order (they may depend on the data, e.g. CTNet's time slices). */
  stages(context: BuildContext, dataset: PreparedDataset): Stage[] | Promise<Stage[]>;
  /** Key of the model evaluated once every stage has run. */
  final: string;
}

/** The context of a run of a recipe on a dataset. */
export function buildContext(dataset: PreparedDataset, spec: ExperimentSpec, seed: number): BuildContext {
  return { schema: dataset.schema, spec, seed };
}

const inputKeys = (model: RecipeModel | undefined): string[] => [...(model?.owns ?? []), ...(model?.reads ?? [])];

/** The models of one run of a recipe: each built once, when first asked for, and disposed by release(). */
export class RecipeModels {
  private readonly built = new Map<string, CtrModel>();
  /** Model key → key of the model that owns it. */
  private readonly owners = new Map<string, string>();

  constructor(
    readonly recipe: ModelRecipe,
    readonly context: BuildContext,
  ) {}

  get(key: string): CtrModel {
    const found = this.built.get(key);
    if (found) return found;
    const definition = this.recipe.models[key];
    if (definition === undefined) throw new Error(`recipe ${this.recipe.name} has no model '${key}'`);
    const inputs = Object.fromEntries(inputKeys(definition).map((input) => [input, this.get(input)]));
    const model = definition.build(this.context, inputs);
    this.built.set(key, model);
    for (const owned of definition.owns ?? []) this.owners.set(owned, key);
    return model;
  }

  /** The keys a model needs built: itself and, until it is built, what it is built from. */
  needs(key: string): Set<string> {
    const inputs = this.built.has(key) ? [] : inputKeys(this.recipe.models[key]);
    return new Set([key, ...inputs.flatMap((input) => [...this.needs(input)])]);
  }

  /** Disposes every built model that no other owns and that is not in `keep`, with the models it owns. */
  release(keep: ReadonlySet<string> = new Set()): void {
    for (const [key, model] of [...this.built]) {
      if (!this.built.has(key) || this.owners.has(key) || keep.has(key)) continue;
      model.module.dispose();
      this.forget(key);
    }
  }

  private forget(key: string): void {
    this.built.delete(key);
    for (const [owned, owner] of [...this.owners]) {
      if (owner !== key) continue;
      this.owners.delete(owned);
      this.forget(owned);
    }
  }
}
