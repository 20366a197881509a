import { z } from "zod";
import type { EntityName } from "../data/batch.ts";
import type { PreparedDataset } from "../data/reader.ts";
import type { ExperimentSpec } from "../spec/experiment.ts";
import type { TrainResult } from "../train/trainer.ts";
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

export interface StageOptions {
  /** Rows to train on (default: the model's trainEntities). */
  entities?: readonly EntityName[];
  /** Early stopping on target valid AUC (default) or a fixed number of epochs (spec max_epochs). */
  validation?: "target" | "none";
  /** Only rows of these time slices (continual training, e.g. CTNet). */
  slices?: readonly number[];
  /** Epochs of this stage instead of the spec's max_epochs (e.g. one pass per slice). */
  maxEpochs?: number;
}

/** What a recipe gets to train with. */
export interface RecipeContext {
  dataset: PreparedDataset;
  spec: ExperimentSpec;
  seed: number;
  /**
   * Trains `model` as the named stage, or loads it if that stage already finished (its checkpoint
   * exists): a stage's weights are saved when it ends, so an interrupted run resumes from there.
   */
  stage(name: string, model: CtrModel, options?: StageOptions): Promise<StageRecord>;
  /** Loads a finished stage of this run into `model`, or throws a UserError naming the command to run first. */
  requireStage(name: string, model: CtrModel, hint: string): Promise<void>;
}

/**
 * How a model of Table 2 (or an MKT ablation of Table 4) is trained: one or more stages, ending in
 * the CtrModel whose target predictions are evaluated.
 */
export interface ModelRecipe {
  /** Directory and report name, e.g. "mkt", "mkt-wo_pdl", "fibinet". */
  name: string;
  category: ModelCategory;
  /** Stages that are, by definition, another recipe's stage (stage → that recipe's name): run once, shared. */
  sharedStages?: Record<string, string>;
  train(context: RecipeContext): Promise<CtrModel>;
}

export type { TrainResult };
