import { access, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { PreparedDataset } from "../data/reader.ts";
import type { CtrModel } from "../models/model.ts";
import type { RecipeContext, StageOptions, StageRecord } from "../models/recipe.ts";
import type { ExperimentSpec } from "../spec/experiment.ts";
import { loadCheckpoint, saveCheckpoint } from "../train/checkpoint.ts";
import type { BackendName } from "../engine/backend.ts";
import { trainModel, type EpochLog, type ParallelTraining } from "../train/trainer.ts";
import type { StageReplicaArgs } from "./stage-replica.ts";
import { writeJsonAtomic } from "../util/atomic.ts";
import { UserError } from "../util/errors.ts";
import { lockInside, waitForLock } from "../util/lock.ts";
import { log } from "../util/log.ts";

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

/**
 * Runs a recipe's stages for one model and seed under `modelDir/stage-<name>/`: `epochs.json` is
 * rewritten after every epoch, then `checkpoint/` and last `record.json`, each atomically. A stage
 * whose record exists finished: its checkpoint is loaded instead of training again.
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
    let record = await this.finished(dir, model);
    if (!record) {
      const required = this.options.requireFinished;
      if (required && (!required.stages || required.stages.includes(name))) throw new UserError(`stage '${name}' of ${this.modelDir} has not run yet: ${required.hint}`);
      // A shared stage (w/o TEM finetune reads full MKT's pretrain) may be training in another
      // process: wait for it, then load what it wrote instead of training it twice.
      const lock = await waitForLock(lockInside(dir), (owner) => log().info({ stage: name, dir, heldBy: owner }, "stage is training in another process: waiting"));
      try {
        record = (await this.finished(dir, model)) ?? (await this.train(name, dir, model, stageOptions));
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
    const record = await this.finished(this.stageDir(name), model);
    if (!record) throw new UserError(`stage '${name}' of ${this.modelDir} has not run yet: ${hint}`);
    this.records.push(record);
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

  private async finished(dir: string, model: CtrModel): Promise<StageRecord | undefined> {
    const recordFile = join(dir, "record.json");
    if (!(await exists(recordFile))) return undefined;
    await loadCheckpoint(join(dir, "checkpoint"), model.module);
    const record = JSON.parse(await readFile(recordFile, "utf8")) as StageRecord;
    return { ...record, resumed: true };
  }

  private async train(name: string, dir: string, model: CtrModel, stageOptions: StageOptions): Promise<StageRecord> {
    const epochs: EpochLog[] = [];
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
      onEpoch: async (entry) => {
        epochs.push(entry);
        await writeJsonAtomic(join(dir, "epochs.json"), epochs);
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
    await saveCheckpoint(join(dir, "checkpoint"), model.module);
    await writeJsonAtomic(join(dir, "record.json"), record);
    return record;
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
