import { access, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import type { PreparedDataset } from "../data/reader.ts";
import type { Module } from "../layers/params.ts";
import type { CtrModel } from "../models/model.ts";
import type { RecipeContext, StageOptions, StageRecord } from "../models/recipe.ts";
import type { ExperimentSpec } from "../spec/experiment.ts";
import { loadCheckpoint, MANIFEST_FILE, saveCheckpoint } from "../train/checkpoint.ts";
import { loadEpochCheckpoint, saveEpochCheckpoint } from "../train/epoch-checkpoint.ts";
import type { BackendName } from "../engine/index.ts";
import { trainModel, type EpochLog, type ParallelTraining, type ResumePoint } from "../train/trainer.ts";
import type { StageReplicaArgs } from "./stage-replica.ts";
import { clearStaleTemps, writeJsonAtomic } from "../util/atomic.ts";
import { CorruptArtefactError, sealDir, unsealDir, verifySealed } from "../util/checksums.ts";
import { UserError } from "../util/errors.ts";
import { lockInside, removeStaleLock, waitForLock } from "../util/lock.ts";
import { log } from "../util/log.ts";

const RECORD_FILE = "record.json";
const EPOCHS_FILE = "epochs.json";
const CHECKPOINT_DIR = "checkpoint";
/** The epoch checkpoint of a stage being trained (see train/epoch-checkpoint.ts). */
const LAST_EPOCH_DIR = "last-epoch";

/** Thrown after the stage a command stops at (e.g. `mkt pretrain` stops after "pretrain"). */
export class StopAfterStage extends Error {
  constructor(readonly stage: string) {
    super(`stopped after stage ${stage}`);
  }
}

export interface StageRunOptions {
  progress: boolean;
  /** Stop (throw StopAfterStage) once this stage has finished or been loaded. */
  stopAfter?: string;
  /** These stages (default: every stage) must already have finished: load, never train. */
  requireFinished?: { stages?: readonly string[]; hint: string };
  /** Directories of stages shared with another model (stage → directory). */
  stageDirs?: Record<string, string>;
  /** Train each stage across this many replicas (worker threads that rebuild it, see stage-replica.ts). */
  parallel?: StageParallelism;
}

export interface StageParallelism {
  /** Replicas including the main thread (1: no workers). */
  replicas: number;
  backend: BackendName;
  kernelOverrides: boolean;
  /** The recipe's name, e.g. "mkt-wo_pdl": workers run it again up to the stage. */
  recipe: string;
}

/** What a stage directory holds: a finished stage (loaded into the model), nothing usable yet, or a corrupted file. */
type StageState = { record: StageRecord } | { unfinished: true } | { corrupt: CorruptArtefactError };

/**
 * Runs a recipe's stages for one model and seed under `modelDir/stage-<name>/`. While a stage
 * trains, `epochs.json` and the epoch checkpoint `last-epoch/` are rewritten after every epoch; at
 * the end come `checkpoint/`, `record.json`, then `checksums.json` (see writeFinishedStage), each
 * atomically. A stage with checksums.json finished: it is checked and loaded instead of trained
 * again. A stage without resumes from `last-epoch/`, so a killed training loses at most one epoch,
 * with the same result. A stage with a corrupted file is trained again.
 */
export class StageRunner implements RecipeContext {
  readonly records: StageRecord[] = [];

  constructor(
    readonly dataset: PreparedDataset,
    readonly spec: ExperimentSpec,
    readonly seed: number,
    readonly modelDir: string,
    private readonly options: StageRunOptions,
  ) {}

  async stage(name: string, model: CtrModel, stageOptions: StageOptions = {}): Promise<StageRecord> {
    const dir = this.stageDir(name);
    let found = await this.finished(dir, model);
    let record: StageRecord;
    if ("record" in found) {
      record = found.record;
      await removeStaleLock(lockInside(dir));
    } else {
      const required = this.options.requireFinished;
      if (required && (!required.stages || required.stages.includes(name))) throw this.notFinished(name, found, required.hint);
      // A shared stage (w/o TEM finetune reads full MKT's pretrain) may be training in another
      // process: wait for it, then load what it wrote instead of training it twice.
      const lock = await waitForLock(lockInside(dir), (owner) => log().info({ stage: name, dir, heldBy: owner }, "stage is training in another process: waiting"));
      try {
        found = await this.finished(dir, model);
        if ("corrupt" in found) {
          log().warn({ stage: name, file: found.corrupt.file }, `${found.corrupt.message}: training the stage again`);
          await unsealDir(dir);
        }
        record = "record" in found ? found.record : await this.train(name, dir, model, stageOptions);
      } finally {
        await lock.release();
      }
    }
    this.records.push(record);
    if (this.options.stopAfter === name) {
      // The recipe ends here: free the model it handed over (it owns any earlier stage's model).
      model.module.dispose();
      throw new StopAfterStage(name);
    }
    return record;
  }

  async requireStage(name: string, model: CtrModel, hint: string): Promise<void> {
    const found = await this.finished(this.stageDir(name), model);
    if (!("record" in found)) throw this.notFinished(name, found, hint);
    this.records.push(found.record);
  }

  private notFinished(name: string, found: Exclude<StageState, { record: StageRecord }>, hint: string): UserError {
    if ("corrupt" in found) return found.corrupt.withHint(`stage '${name}' must be trained again: ${hint}`);
    return new UserError(`stage '${name}' of ${this.modelDir} has not run yet: ${hint}`);
  }

  private parallelTraining(stage: string, parallel: StageParallelism): ParallelTraining {
    const args: StageReplicaArgs = {
      datasetDir: this.dataset.dir,
      spec: this.spec,
      seed: this.seed,
      recipe: parallel.recipe,
      stage,
      modelDir: this.modelDir,
      stageDirs: this.options.stageDirs ?? {},
    };
    return {
      replicas: parallel.replicas,
      backend: parallel.backend,
      kernelOverrides: parallel.kernelOverrides,
      factory: { module: new URL("./stage-replica.ts", import.meta.url).href, exportName: "buildStageReplicaModel", args },
    };
  }

  private stageDir(name: string): string {
    return this.options.stageDirs?.[name] ?? join(this.modelDir, `stage-${name}`);
  }

  /** Loads a finished stage's checkpoint into `model`, once the stage's checksums hold. */
  private async finished(dir: string, model: CtrModel): Promise<StageState> {
    try {
      // record.json without checksums.json: killed before the end of writeFinishedStage (or an older mkt's).
      if (!(await exists(join(dir, RECORD_FILE))) || !(await verifySealed(dir))) return { unfinished: true };
      await loadCheckpoint(join(dir, CHECKPOINT_DIR), model.module);
      const record = JSON.parse(await readFile(join(dir, RECORD_FILE), "utf8")) as StageRecord;
      return { record: { ...record, resumed: true } };
    } catch (error) {
      if (error instanceof CorruptArtefactError) return { corrupt: error };
      throw error;
    }
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

  private async train(name: string, dir: string, model: CtrModel, stageOptions: StageOptions): Promise<StageRecord> {
    const resume = await this.resumePoint(name, dir, model);
    const result = await trainModel(model, this.dataset, {
      training: this.spec.training,
      seed: this.seed,
      stage: `${model.name}:${name}`,
      progress: this.options.progress,
      ...(stageOptions.entities ? { entities: stageOptions.entities } : {}),
      ...(stageOptions.validation ? { validation: stageOptions.validation } : {}),
      ...(stageOptions.slices ? { slices: stageOptions.slices } : {}),
      ...(stageOptions.maxEpochs ? { maxEpochs: stageOptions.maxEpochs } : {}),
      ...(this.options.parallel && this.options.parallel.replicas > 1 ? { parallel: this.parallelTraining(name, this.options.parallel) } : {}),
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

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
