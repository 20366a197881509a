import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { PreparedDataset } from "../data/reader.ts";
import type { BackendInfo } from "../engine/index.ts";
import type { SplitEvaluation } from "../metrics/index.ts";
import { evaluateReference, isReferenceRecipe, type ReferenceRecipe } from "../models/baselines/references.ts";
import { meanImportance, memOf, type ImportanceReport } from "../models/mkt/importance.ts";
import type { ModelRecipe, StageRecord } from "../models/recipe.ts";
import { evaluateSplit, writePredictions } from "../train/evaluate.ts";
import { writeJsonAtomic } from "../util/atomic.ts";
import { readSealed, sealDir, unsealDir, type Sealed } from "../util/checksums.ts";
import { lockInside, removeStaleLock, tryLock, waitForLock, type FileLock } from "../util/lock.ts";
import { log } from "../util/log.ts";
import type { LoadedExperiment } from "./experiment.ts";
import { provenance } from "./provenance.ts";
import type { ModelResult } from "./result.ts";
import { modelDir } from "./layout.ts";
import { StageRunner } from "./stages.ts";

export type { ModelResult } from "./result.ts";

export const RESULT_FILE = "result.json";
export const METRICS_FILE = "metrics.json";
export const PREDICTIONS_FILE = "predictions.csv";
export const IMPORTANCE_FILE = "importance.json";

export { modelDir };

export interface ModelRunOptions {
  progress: boolean;
  /** Train only up to this stage (no evaluation). */
  stopAfter?: string;
  /** These stages (default: all) must have finished: loaded, never trained. */
  requireFinished?: { stages?: readonly string[]; hint: string };
  /**
   * A finished result with a corrupted file is an error telling to delete result.json and rerun
   * this command (default: evaluated again, with a warning naming the file).
   */
  failOnCorruptResult?: { rerun: string };
}

/**
 * Trains (or resumes) one recipe for one seed, evaluates it on the target test split and writes
 * result.json, metrics.json, predictions.csv (and importance.json for MKT), each atomically, then
 * checksums.json over them. A (model, seed) whose result is sealed and intact is skipped; one with a
 * corrupted file is evaluated again (its stages are loaded, or trained again if they are corrupted
 * too). Returns undefined when stopped after a stage, or when another process holds the
 * (model, seed) (see util/lock.ts).
 */
export async function runModel(
  recipe: ModelRecipe | ReferenceRecipe,
  experiment: LoadedExperiment,
  dataset: PreparedDataset,
  seed: number,
  backend: BackendInfo,
  options: ModelRunOptions,
): Promise<ModelResult | undefined> {
  const dir = modelDir(experiment.runDir, recipe.name, seed);
  const wholeRun = !options.stopAfter;
  const failIfCorrupt = (found: Sealed<ModelResult>) => {
    if ("corrupt" in found && options.failOnCorruptResult) throw found.corrupt.withHint(`delete ${join(dir, RESULT_FILE)} and rerun '${options.failOnCorruptResult.rerun}'`);
  };
  if (wholeRun) {
    const found = await finishedResult(dir);
    if ("value" in found) {
      log().info({ model: recipe.name, seed }, "already finished: skipped");
      await removeStaleLock(lockInside(dir));
      return found.value;
    }
    failIfCorrupt(found);
  }
  // Training the whole (model, seed) is left to a process that holds it; a stage, or an evaluation of finished stages, waits for it.
  const lock = await lockModel(dir, wholeRun && !options.requireFinished, { model: recipe.name, seed });
  if (!lock) return undefined;
  try {
    if (wholeRun) {
      const found = await finishedResult(dir);
      if ("value" in found) return found.value;
      failIfCorrupt(found);
      if ("corrupt" in found) {
        log().warn({ model: recipe.name, seed, file: found.corrupt.file }, `${found.corrupt.message}: evaluating again`);
        await unsealDir(dir);
      }
    }
    return await trainAndEvaluate({ recipe, experiment, dataset, seed, backend, options, dir });
  } finally {
    await lock.release();
  }
}

/** The (model, seed)'s result once its checksums hold (result.json without checksums.json: interrupted before the end, or an older mkt's). */
function finishedResult(dir: string): Promise<Sealed<ModelResult>> {
  return readSealed(dir, RESULT_FILE, async () => JSON.parse(await readFile(join(dir, RESULT_FILE), "utf8")) as ModelResult);
}

/**
 * Takes the (model, seed) directory's lock. Another process on the same run directory may hold it:
 * a whole run leaves the (model, seed) to that process (undefined); a single stage or evaluation
 * waits for it.
 */
async function lockModel(dir: string, leaveIfHeld: boolean, who: { model: string; seed: number }): Promise<FileLock | undefined> {
  const attempt = await tryLock(lockInside(dir));
  if ("lock" in attempt) return attempt.lock;
  if (leaveIfHeld) {
    log().warn({ ...who, heldBy: attempt.heldBy }, "running in another process: skipped");
    return undefined;
  }
  return waitForLock(lockInside(dir), (owner) => log().info({ ...who, heldBy: owner }, "waiting for another process"));
}

/** runModel's arguments, and the (model, seed) directory it holds the lock of. */
interface HeldModelRun {
  recipe: ModelRecipe | ReferenceRecipe;
  experiment: LoadedExperiment;
  dataset: PreparedDataset;
  seed: number;
  backend: BackendInfo;
  options: ModelRunOptions;
  dir: string;
}

async function trainAndEvaluate(run: HeldModelRun): Promise<ModelResult | undefined> {
  const started = performance.now();
  const { recipe, dataset } = run;
  // ItemPop and the Oracle: nothing to train, scored straight from the prepared files.
  if (isReferenceRecipe(recipe)) return writeResult(run, started, await evaluateReference(recipe, dataset), []);
  const { experiment, seed, backend, options, dir } = run;
  const runner = new StageRunner(dataset, experiment.spec, seed, experiment.runDir, {
    progress: options.progress,
    parallel: { replicas: backend.replicas ?? 1, backend: backend.name, kernelOverrides: backend.kernelOverrides.length > 0 },
    ...(options.stopAfter ? { through: options.stopAfter } : {}),
    ...(options.requireFinished ? { requireFinished: options.requireFinished } : {}),
  });
  const { records, model } = await runner.run(recipe);
  if (!model) return undefined;
  try {
    const evaluation = await evaluateSplit(model, dataset, { split: "test", batchSize: experiment.spec.training.eval_batch_size });
    const mem = memOf(model);
    const importance = mem ? await meanImportance(mem, dataset, experiment.spec.training.eval_batch_size) : undefined;
    if (importance) await writeJsonAtomic(join(dir, IMPORTANCE_FILE), importance);
    return await writeResult(run, started, evaluation, records, importance);
  } finally {
    model.module.dispose();
  }
}

/** Writes predictions.csv, metrics.json and result.json of an evaluated run. */
async function writeResult(
  { recipe, experiment, dataset, seed, backend, dir }: HeldModelRun,
  started: number,
  evaluation: SplitEvaluation,
  stages: StageRecord[],
  importance?: ImportanceReport,
): Promise<ModelResult> {
  await writePredictions(join(dir, PREDICTIONS_FILE), evaluation.rows, dataset.schema.userGroups);
  await writeJsonAtomic(join(dir, METRICS_FILE), evaluation.metrics);
  const result: ModelResult = {
    model: recipe.name,
    category: recipe.category,
    seed,
    metrics: evaluation.metrics,
    stages,
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
  await writeJsonAtomic(join(dir, RESULT_FILE), result);
  await sealDir(dir, [RESULT_FILE, METRICS_FILE, PREDICTIONS_FILE, ...(importance ? [IMPORTANCE_FILE] : [])]);
  log().info({ model: recipe.name, seed, auc: evaluation.metrics.auc, gauc: evaluation.metrics.gauc }, "evaluated");
  return result;
}
