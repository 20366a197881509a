import type { EntityName } from "../data/batch.ts";
import type { PreparedDataset } from "../data/reader.ts";
import type { ExperimentSpec } from "../spec/experiment.ts";
import type { TrainResult } from "../train/trainer.ts";
import type { CtrModel } from "./model.ts";

/** Table 2's categories; "reference": its untrained floor and ceiling rows (ItemPop, Oracle). */
export type ModelCategory = "single-domain" | "joint training" | "pre-training & fine-tuning" | "ours" | "reference";

/** What one training stage did (or, when resumed, what it had done). */
export interface StageRecord {
  stage: string;
  /** Wall time of the stage in seconds (0 if it was loaded from its checkpoint). */
  seconds: number;
  epochsRun: number;
  bestEpoch: number;
  bestValidAuc: number;
  /** Training samples per second over the stage's epochs. */
  samplesPerSecond: number;
  /** True when the checkpoint existed and was loaded instead of training. */
  resumed: boolean;
}

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
