import { access, readFile } from "node:fs/promises";
import { join } from "node:path";
import type { PreparedDataset } from "../data/reader.ts";
import type { BackendInfo } from "../engine/backend.ts";
import type { EvaluationResult } from "../metrics/index.ts";
import { meanImportance, memOf, type ImportanceReport } from "../models/mkt/importance.ts";
import type { ModelCategory, ModelRecipe, StageRecord } from "../models/recipe.ts";
import { evaluateSplit, writePredictions } from "../train/evaluate.ts";
import { writeJsonAtomic } from "../util/atomic.ts";
import { lockInside, tryLock, waitForLock, type FileLock } from "../util/lock.ts";
import { log } from "../util/log.ts";
import type { LoadedExperiment } from "./experiment.ts";
import { provenance, type Provenance } from "./provenance.ts";
import { StageRunner, StopAfterStage } from "./stages.ts";

/** Everything one (model, seed) run produced: `<run>/<model>/seed-<seed>/result.json`. */
export interface ModelResult {
  model: string;
  category: ModelCategory;
  seed: number;
  /** Target test metrics (AUC, GAUC, LogLoss, counts, user groups). */
  metrics: EvaluationResult;
  stages: StageRecord[];
  evaluation: { seconds: number; samplesPerSecond: number };
  importance?: ImportanceReport;
  /** Wall time of this run, all stages and the evaluation (resumed stages count 0). */
  seconds: number;
  provenance: Provenance;
}

export const RESULT_FILE = "result.json";

export function modelDir(runDir: string, model: string, seed: number): string {
  return join(runDir, model, `seed-${seed}`);
}

/** Directories of the stages a recipe shares with another recipe's run (stage → directory). */
export function sharedStageDirs(recipe: ModelRecipe, runDir: string, seed: number): Record<string, string> {
  const dirs: Record<string, string> = {};
  for (const [stage, owner] of Object.entries(recipe.sharedStages ?? {})) dirs[stage] = join(modelDir(runDir, owner, seed), `stage-${stage}`);
  return dirs;
}

export interface ModelRunOptions {
  progress: boolean;
  /** Train only up to this stage (no evaluation). */
  stopAfter?: string;
  /** These stages (default: all) must have finished: loaded, never trained. */
  requireFinished?: { stages?: readonly string[]; hint: string };
  /** Evaluate again even if result.json exists. */
  reevaluate?: boolean;
}

/**
 * Trains (or resumes) one recipe for one seed, evaluates it on the target test split and writes
 * result.json, metrics.json, predictions.csv (and importance.json for MKT), each atomically.
 * A (model, seed) whose result.json exists is skipped. Returns undefined when stopped after a stage,
 * or when another process holds the (model, seed) (see util/lock.ts).
 */
export async function runModel(
  recipe: ModelRecipe,
  experiment: LoadedExperiment,
  dataset: PreparedDataset,
  seed: number,
  backend: BackendInfo,
  options: ModelRunOptions,
): Promise<ModelResult | undefined> {
  const dir = modelDir(experiment.runDir, recipe.name, seed);
  const resultFile = join(dir, RESULT_FILE);
  const wholeRun = !options.stopAfter && !options.reevaluate;
  const finished = async () => (wholeRun && (await exists(resultFile)) ? (JSON.parse(await readFile(resultFile, "utf8")) as ModelResult) : undefined);
  const result = await finished();
  if (result) {
    log().info({ model: recipe.name, seed }, "already finished: skipped");
    return result;
  }
  const lock = await lockModel(dir, wholeRun, { model: recipe.name, seed });
  if (!lock) return undefined;
  try {
    return (await finished()) ?? (await trainAndEvaluate({ recipe, experiment, dataset, seed, backend, options, dir }));
  } finally {
    await lock.release();
  }
}

/**
 * Takes the (model, seed) directory's lock. Another process on the same run directory may hold it:
 * a whole run leaves the (model, seed) to that process (undefined); a single stage or evaluation
 * waits for it.
 */
async function lockModel(dir: string, wholeRun: boolean, who: { model: string; seed: number }): Promise<FileLock | undefined> {
  const attempt = await tryLock(lockInside(dir));
  if ("lock" in attempt) return attempt.lock;
  if (wholeRun) {
    log().warn({ ...who, heldBy: attempt.heldBy }, "running in another process: skipped");
    return undefined;
  }
  return waitForLock(lockInside(dir), (owner) => log().info({ ...who, heldBy: owner }, "waiting for another process"));
}

/** runModel's arguments, and the (model, seed) directory it holds the lock of. */
interface HeldModelRun {
  recipe: ModelRecipe;
  experiment: LoadedExperiment;
  dataset: PreparedDataset;
  seed: number;
  backend: BackendInfo;
  options: ModelRunOptions;
  dir: string;
}

async function trainAndEvaluate({ recipe, experiment, dataset, seed, backend, options, dir }: HeldModelRun): Promise<ModelResult | undefined> {
  const resultFile = join(dir, RESULT_FILE);
  const started = performance.now();
  const runner = new StageRunner(dataset, experiment.spec, seed, dir, {
    progress: options.progress,
    stageDirs: sharedStageDirs(recipe, experiment.runDir, seed),
    parallel: { replicas: backend.replicas ?? 1, backend: backend.name, kernelOverrides: backend.kernelOverrides.length > 0, recipe: recipe.name },
    ...(options.stopAfter ? { stopAfter: options.stopAfter } : {}),
    ...(options.requireFinished ? { requireFinished: options.requireFinished } : {}),
  });
  let model;
  try {
    model = await recipe.train(runner);
  } catch (error) {
    if (error instanceof StopAfterStage) return undefined;
    throw error;
  }
  try {
    const evaluation = await evaluateSplit(model, dataset, { split: "test", batchSize: experiment.spec.training.eval_batch_size });
    await writePredictions(join(dir, "predictions.csv"), evaluation.rows, dataset.schema.userGroups);
    const mem = memOf(model);
    const importance = mem ? await meanImportance(mem, dataset, experiment.spec.training.eval_batch_size) : undefined;
    if (importance) await writeJsonAtomic(join(dir, "importance.json"), importance);
    await writeJsonAtomic(join(dir, "metrics.json"), evaluation.metrics);
    const result: ModelResult = {
      model: recipe.name,
      category: recipe.category,
      seed,
      metrics: evaluation.metrics,
      stages: runner.records,
      evaluation: { seconds: evaluation.seconds, samplesPerSecond: evaluation.samplesPerSecond },
      ...(importance ? { importance } : {}),
      seconds: (performance.now() - started) / 1000,
      provenance: provenance(
        {
          experiment: experiment.spec.name,
          specFile: experiment.file,
          specHash: experiment.specHash,
          dataset: experiment.prepared.stats.dataset,
          datasetFingerprint: experiment.prepared.stats.fingerprint,
        },
        backend,
      ),
    };
    await writeJsonAtomic(resultFile, result);
    log().info({ model: recipe.name, seed, auc: evaluation.metrics.auc, gauc: evaluation.metrics.gauc }, "evaluated");
    return result;
  } finally {
    model.module.dispose();
  }
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
