import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { PreparedDataset } from "../data/reader.ts";
import type { Module } from "../layers/params.ts";
import type { CtrModel } from "../models/model.ts";
import { buildContext, RecipeModels, type BuildContext, type ModelRecipe, type Stage, type StageRecord } from "../models/recipe.ts";
import type { ExperimentSpec } from "../spec/experiment-common.ts";
import { loadCheckpoint, MANIFEST_FILE, saveCheckpoint } from "../train/checkpoint.ts";
import { loadEpochCheckpoint, saveEpochCheckpoint } from "../train/epoch-checkpoint.ts";
import { trainModel, type EpochLog, type ParallelTraining, type ResumePoint } from "../train/trainer.ts";
import { modelDir, stageDir } from "./layout.ts";
import type { StageReplicaArgs } from "./stage-replica.ts";
import { clearStaleTemps, writeJsonAtomic } from "../util/atomic.ts";
import { CorruptArtefactError, readSealed, sealDir, unsealDir, type Sealed } from "../util/checksums.ts";
import { UserError } from "../util/errors.ts";
import { lockInside, removeStaleLock, waitForLock } from "../util/lock.ts";
import { log } from "../util/log.ts";
import { loadableModule } from "../util/modules.ts";

const RECORD_FILE = "record.json";
const EPOCHS_FILE = "epochs.json";
const CHECKPOINT_DIR = "checkpoint";
/** The epoch checkpoint of a stage being trained (see train/epoch-checkpoint.ts). */
const LAST_EPOCH_DIR = "last-epoch";

/** What the runner does with a stage's model: load or train it (StageRunner), train it in memory (tests), time it (benchmarks). */
export type StageVisit = (stage: Stage, model: CtrModel) => Promise<StageRecord>;

/** What running a recipe's stages gave: a record per stage, and the final model unless stopped after a stage. */
export interface StagesRun {
  records: StageRecord[];
  /** The model to evaluate; the caller disposes it. */
  model?: CtrModel;
}

/**
 * Runs `stages` of `recipe` in order with `visit`: each stage's model is built when first needed,
 * thawed for the stage if it says so, and every model that no later stage (nor the final model)
 * needs is released. With `through`, the stages end there and every model is released.
 */
export async function runStages(recipe: ModelRecipe, context: BuildContext, stages: readonly Stage[], visit: StageVisit, through?: string): Promise<StagesRun> {
  const last = through === undefined ? stages.length - 1 : stages.findIndex((s) => s.name === through);
  if (last < 0) throw new Error(`recipe ${recipe.name} has no stage '${through}'`);
  const models = new RecipeModels(recipe, context);
  // Keys of the models that stages from `from` on, and the evaluation, still need.
  const needed = (from: number): Set<string> => {
    const keys = [...stages.slice(from, last + 1).map((s) => s.model), ...(through === undefined ? [recipe.final] : [])];
    return new Set(keys.flatMap((key) => [...models.needs(key)]));
  };
  const records: StageRecord[] = [];
  try {
    for (let i = 0; i <= last; i++) {
      const stage = stages[i]!;
      const model = models.get(stage.model);
      models.release(needed(i));
      if (stage.thaw) model.module.setTrainable(true);
      try {
        records.push(await visit(stage, model));
      } finally {
        if (stage.thaw) model.module.setTrainable(false);
      }
    }
    if (through !== undefined) {
      models.release();
      return { records };
    }
    const model = models.get(recipe.final);
    models.release(new Set([recipe.final]));
    return { records, model };
  } catch (error) {
    models.release();
    throw error;
  }
}

export interface StageRunOptions {
  progress: boolean;
  /** Run the stages up to and including this one only (no final model). */
  through?: string;
  /** These stages (default: every stage) must already have finished: load, never train. */
  requireFinished?: { stages?: readonly string[]; hint: string };
  /** Train each stage across this many replicas (worker threads that build its model, see stage-replica.ts). */
  parallel?: StageParallelism;
}

/** Replicas including the main thread (1: no workers), and how the workers select their backend. */
export type StageParallelism = Omit<ParallelTraining, "factory">;

/**
 * Runs a recipe's stages for one seed under `<run>/<recipe>/seed-<seed>/stage-<name>/`. While a stage
 * trains, `epochs.json` and the epoch checkpoint `last-epoch/` are rewritten after every epoch; at
 * the end come `checkpoint/`, `record.json`, then `checksums.json` (see writeFinishedStage), each
 * atomically. A stage with checksums.json finished: it is checked and loaded instead of trained
 * again. A stage without resumes from `last-epoch/`, so a killed training loses at most one epoch,
 * with the same result. A stage with a corrupted file is trained again.
 */
export class StageRunner {
  constructor(
    readonly dataset: PreparedDataset,
    readonly spec: ExperimentSpec,
    readonly seed: number,
    readonly runDir: string,
    private readonly options: StageRunOptions,
  ) {}

  /** Loads or trains every stage of `recipe` (up to options.through) and returns the records and final model. */
  async run(recipe: ModelRecipe): Promise<StagesRun> {
    const context = buildContext(this.dataset, this.spec, this.seed);
    const stages = await recipe.stages(context, this.dataset);
    return runStages(recipe, context, stages, (stage, model) => this.stage(recipe, stage, model), this.options.through);
  }

  private async stage(recipe: ModelRecipe, stage: Stage, model: CtrModel): Promise<StageRecord> {
    const { name } = stage;
    const dir = stageDir(this.runDir, recipe.name, this.seed, stage);
    let found = await this.finished(dir, model);
    if ("value" in found) {
      await removeStaleLock(lockInside(dir));
      return found.value;
    }
    const required = this.options.requireFinished;
    if (required && (!required.stages || required.stages.includes(name))) {
      if ("corrupt" in found) throw found.corrupt.withHint(`stage '${name}' must be trained again: ${required.hint}`);
      throw new UserError(`stage '${name}' of ${modelDir(this.runDir, recipe.name, this.seed)} has not run yet: ${required.hint}`);
    }
    // A shared stage (w/o TEM finetune reads full MKT's pretrain) may be training in another
    // process: wait for it, then load what it wrote instead of training it twice.
    const lock = await waitForLock(lockInside(dir), (owner) => log().info({ stage: name, dir, heldBy: owner }, "stage is training in another process: waiting"));
    try {
      found = await this.finished(dir, model);
      if ("corrupt" in found) {
        log().warn({ stage: name, file: found.corrupt.file }, `${found.corrupt.message}: training the stage again`);
        await unsealDir(dir);
      }
      return "value" in found ? found.value : await this.train(recipe, stage, dir, model);
    } finally {
      await lock.release();
    }
  }

  /** A replica worker gets the stage's description alone: it builds the stage's model, and the main thread sends it every weight. */
  private parallelTraining(recipe: ModelRecipe, stage: Stage, parallel: StageParallelism): ParallelTraining {
    const args: StageReplicaArgs = { datasetDir: this.dataset.dir, spec: this.spec, seed: this.seed, recipe: recipe.name, model: stage.model };
    return {
      ...parallel,
      factory: { module: loadableModule(import.meta.url, "stage-replica", "./stage-replica.ts").href, exportName: "buildStageReplicaModel", args },
    };
  }

  /** Loads a finished stage's checkpoint into `model`, once the stage's checksums hold. */
  private finished(dir: string, model: CtrModel): Promise<Sealed<StageRecord>> {
    // record.json without checksums.json: killed before the end of writeFinishedStage (or an older mkt's).
    return readSealed(dir, RECORD_FILE, async () => {
      await loadCheckpoint(join(dir, CHECKPOINT_DIR), model.module);
      return { ...(JSON.parse(await readFile(join(dir, RECORD_FILE), "utf8")) as StageRecord), resumed: true };
    });
  }

  /** The epoch checkpoint of an interrupted training of this stage, loaded into `model`; a corrupted one is dropped. */
  private async resumePoint(name: string, dir: string, model: CtrModel): Promise<ResumePoint | undefined> {
    const lastEpoch = join(dir, LAST_EPOCH_DIR);
    try {
      return await loadEpochCheckpoint(lastEpoch, model.module);
    } catch (error) {
      if (!(error instanceof CorruptArtefactError)) throw error;
      log().warn({ stage: name, file: error.file }, `${error.message}: training the stage from its first epoch`);
      await rm(lastEpoch, { recursive: true, force: true });
      return undefined;
    }
  }

  private async train(recipe: ModelRecipe, stage: Stage, dir: string, model: CtrModel): Promise<StageRecord> {
    const { name } = stage;
    const resume = await this.resumePoint(name, dir, model);
    const result = await trainModel(model, this.dataset, {
      training: this.spec.training,
      seed: this.seed,
      stage: `${model.name}:${name}`,
      progress: this.options.progress,
      ...stage.options,
      ...(this.options.parallel && this.options.parallel.replicas > 1 ? { parallel: this.parallelTraining(recipe, stage, this.options.parallel) } : {}),
      ...(resume ? { resume } : {}),
      onEpoch: async (_entry, state) => {
        await writeJsonAtomic(join(dir, EPOCHS_FILE), state.epochs);
        // After the last epoch the stage's checkpoint is written at once instead.
        if (!state.final) await saveEpochCheckpoint(join(dir, LAST_EPOCH_DIR), state);
      },
    });
    const samples = result.epochs.reduce((s, e) => s + e.samples, 0);
    const trainSeconds = result.epochs.reduce((s, e) => s + e.seconds, 0);
    const record: StageRecord = {
      stage: name,
      seconds: result.seconds,
      epochsRun: result.epochsRun,
      bestEpoch: result.bestEpoch,
      bestValidAuc: result.bestValidAuc,
      samplesPerSecond: trainSeconds > 0 ? samples / trainSeconds : 0,
      resumed: false,
    };
    await writeFinishedStage(dir, model.module, record, result.epochs);
    return record;
  }
}

/**
 * Writes a trained stage: its checkpoint, epochs.json and record.json, drops the epoch checkpoint,
 * and last seals the directory (checksums.json over the record, the epochs and the checkpoint's
 * manifest, which holds its weights' SHA-256). Until sealed, the stage counts as unfinished.
 */
export async function writeFinishedStage(dir: string, module: Module, record: StageRecord, epochs: readonly EpochLog[]): Promise<void> {
  await saveCheckpoint(join(dir, CHECKPOINT_DIR), module);
  await writeJsonAtomic(join(dir, EPOCHS_FILE), epochs);
  await writeJsonAtomic(join(dir, RECORD_FILE), record);
  await rm(join(dir, LAST_EPOCH_DIR), { recursive: true, force: true });
  await clearStaleTemps(join(dir, LAST_EPOCH_DIR));
  await sealDir(dir, [RECORD_FILE, EPOCHS_FILE, join(CHECKPOINT_DIR, MANIFEST_FILE)]);
}
