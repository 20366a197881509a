import { tf } from "../engine/index.ts";
import type { Batch } from "../data/batch.ts";
import type { PreparedDataset } from "../data/reader.ts";
import { forEachBatch, valuesOf } from "../models/batch-loop.ts";
import type { CtrModel } from "../models/model.ts";
import type { StageOptions } from "../models/recipe.ts";
import type { ExperimentSpec } from "../spec/experiment-common.ts";
import { log } from "../util/log.ts";
import type { Module } from "../layers/params.ts";
import { disposeSnapshot, restore, snapshot, type WeightSnapshot } from "./checkpoint.ts";
import { evaluateSplit } from "./evaluate.ts";
import { Adam, type AdamState } from "./adam.ts";
import { readerBatchRows, ReplicaGroup, type ReplicaGroupOptions } from "./parallel/group.ts";
import { ctrReplicaModel } from "./parallel/replica.ts";
import { stageProgress, type StageProgress } from "./progress.ts";

export type TrainingSettings = ExperimentSpec["training"];

/** One epoch of training, as logged and returned. */
export interface EpochLog {
  /** 1-based. */
  epoch: number;
  /** Training time of the epoch (the validation pass excluded); samplesPerSecond is over it. */
  seconds: number;
  samples: number;
  samplesPerSecond: number;
  /** Sample-weighted means over the epoch: `total` and each named part of the model's loss. */
  loss: Record<string, number>;
  /** Target valid AUC after the epoch (NaN, i.e. null in JSON, when undefined on the split or not validated). */
  validAuc: number;
  /** Whether this epoch is the best so far (its weights are the ones kept). */
  best: boolean;
}

export interface StepInfo {
  epoch: number;
  /** 1-based within the epoch. */
  step: number;
  samples: number;
  loss: Record<string, number>;
}

export interface TrainOptions extends StageOptions {
  training: TrainingSettings;
  /** The shuffle seed of epoch e is seed + e. */
  seed: number;
  /** Name in logs and the progress bar (default: the model's name), e.g. "mkt/mem". */
  stage?: string;
  /** Draw a progress bar (pass false in JSON mode; never drawn unless stderr is a TTY); a run tracked by train/progress.ts is fed either way. */
  progress?: boolean;
  /**
   * Called after each epoch's validation, e.g. to write the epoch logs atomically, and with where
   * training stands, to save it (see epoch-checkpoint.ts) so a killed training can go on from there.
   */
  onEpoch?: (entry: EpochLog, state: EpochState) => void | Promise<void>;
  /** Go on from a state saved after an epoch; the model already holds that epoch's weights. */
  resume?: ResumePoint;
  /** Called after each optimizer step (tests use it to watch memory). */
  onStep?: (info: StepInfo) => void;
  /** Stop each epoch after this many batches (tests, smoke runs). */
  maxBatchesPerEpoch?: number;
  /** Synchronous data-parallel training over worker threads (see parallel/group.ts); absent or 1 replica: this thread alone. */
  parallel?: ParallelTraining;
}

/** Replicas including this thread's, how a worker builds its replica of the model, and the backend the workers select. */
export type ParallelTraining = Omit<ReplicaGroupOptions, "learningRate" | "optimizer">;

/** Where a training stands after an epoch, apart from the weights: what resuming needs. */
export interface TrainingProgress {
  /** The completed epochs' logs. */
  epochs: EpochLog[];
  bestEpoch: number;
  bestValidAuc: number;
  /** Patience ran out after the last epoch: no epoch follows. */
  stoppedEarly: boolean;
  /** Training wall time so far, over every process that trained this stage. */
  seconds: number;
}

/** What onEpoch gets besides the epoch's log. */
export interface EpochState extends TrainingProgress {
  /** No epoch follows (the last one, or patience ran out): the caller saves the final weights next. */
  final: boolean;
  /** The model, holding this epoch's weights. */
  module: Module;
  /** The best epoch's weights when that is an earlier epoch (validation only); else the model's own. */
  best?: WeightSnapshot;
  /** Adam's state (read only when asked for: it is copied from the backend, or from every replica). */
  optimizer(): Promise<AdamState>;
}

/** A saved EpochState, to resume from: the weights of its last epoch are already in the model. */
export interface ResumePoint extends TrainingProgress {
  /** Handed over: the trainer disposes it. */
  best?: WeightSnapshot;
  optimizer: AdamState;
}

/** Takes optimizer steps on batches: in this thread, or across a replica group. */
interface Stepper {
  step(batch: Batch): Promise<Record<string, number>>;
  /** Scores for validation, across the replicas when there are several. */
  predict?: (batch: Batch) => Promise<Float32Array>;
  optimizerState(): Promise<AdamState>;
  close(): Promise<void>;
}

async function stepper(model: CtrModel, learningRate: number, parallel: ParallelTraining | undefined, optimizer: AdamState | undefined): Promise<Stepper> {
  if (parallel !== undefined && parallel.replicas > 1) {
    const group = await ReplicaGroup.start(ctrReplicaModel(model), readerBatchRows, { ...parallel, learningRate, ...(optimizer ? { optimizer } : {}) });
    return { step: (batch) => group.step(batch), predict: (batch) => group.predict(batch), optimizerState: () => group.optimizerState(), close: () => group.close() };
  }
  const adam = new Adam(learningRate);
  const named = model.module.namedVariables();
  if (optimizer) adam.importState(optimizer, named);
  const variables = model.trainableVariables();
  return {
    step: (batch) => trainStep(model, adam, variables, batch),
    optimizerState: () => adam.exportState(named),
    close: async () => adam.dispose(),
  };
}

export interface TrainResult {
  epochs: EpochLog[];
  /** 1-based epoch whose weights the model holds on return. */
  bestEpoch: number;
  /** NaN without validation. */
  bestValidAuc: number;
  epochsRun: number;
  /** True when patience ran out before max_epochs. */
  stoppedEarly: boolean;
  seconds: number;
}

/** Sample-weighted running means of named values. */
class RunningMeans {
  private readonly sums = new Map<string, { sum: number; samples: number }>();

  add(values: Record<string, number>, samples: number): void {
    for (const [name, value] of Object.entries(values)) {
      const s = this.sums.get(name) ?? { sum: 0, samples: 0 };
      s.sum += value * samples;
      s.samples += samples;
      this.sums.set(name, s);
    }
  }

  means(): Record<string, number> {
    return Object.fromEntries([...this.sums].map(([name, s]) => [name, s.sum / s.samples]));
  }
}

/**
 * One Adam step on a batch; returns the loss and its parts. The loss values are stacked and kept
 * through the optimizer's own tidy, to be read back after the update.
 */
export async function trainStep(model: CtrModel, optimizer: Adam, variables: tf.Variable[], batch: Batch): Promise<Record<string, number>> {
  let names: string[] = [];
  const { values } = (await valuesOf(batch, (t) => {
    let losses: tf.Tensor | undefined;
    optimizer.minimize(() => {
      const { total, parts } = model.loss(t);
      names = ["total", ...Object.keys(parts)];
      losses = tf.keep(tf.stack([total, ...Object.values(parts)]));
      return total;
    }, variables);
    return losses;
  }))!;
  return Object.fromEntries(names.map((name, i) => [name, values[i]!]));
}

/**
 * Trains `model` with Adam on its train entities (or `options.entities`), one shuffled pass per
 * epoch, validating on the target valid split after each epoch. Stops when the valid AUC has not
 * improved for `patience` epochs and returns with the best epoch's weights in the model. Without
 * validation every epoch supersedes the previous one: all epochs run, each is logged as the best
 * so far, and the last one's weights stay (bestValidAuc is NaN). The optimizer's state is released
 * on return, so only the model's variables remain. With `resume`, training goes on after the saved
 * epoch exactly as it would have without the interruption: epoch e's shuffle depends on e alone,
 * and the weights, Adam's state and the early-stopping state are the saved ones.
 */
export async function trainModel(model: CtrModel, dataset: PreparedDataset, options: TrainOptions): Promise<TrainResult> {
  const { training, resume } = options;
  const stage = options.stage ?? model.name;
  const started = performance.now();
  const validate = (options.validation ?? "target") === "target";
  const maxEpochs = options.maxEpochs ?? training.max_epochs;
  const epochs: EpochLog[] = resume ? [...resume.epochs] : [];
  let best: WeightSnapshot | undefined = resume?.best;
  let bestEpoch = resume?.bestEpoch ?? 0;
  let bestValidAuc = resume?.bestValidAuc ?? NaN;
  let stoppedEarly = resume?.stoppedEarly ?? false;
  const priorSeconds = resume?.seconds ?? 0;
  let opened: Stepper | undefined;
  let progress: StageProgress | undefined;
  try {
    if (resume) {
      if (epochs.length > maxEpochs || bestEpoch < 1 || bestEpoch > epochs.length) throw new Error(`${stage}: cannot resume after epoch ${epochs.length} (best ${bestEpoch}) of ${maxEpochs}`);
      // The best epoch was the last one saved: its weights are the model's.
      if (validate && best === undefined && bestEpoch === epochs.length) best = snapshot(model.module);
      if (validate !== (best !== undefined)) throw new Error(`${stage}: the saved state ${validate ? "lacks" : "has"} the best epoch's weights`);
      log().info({ stage, epoch: epochs.length, bestEpoch }, `${stage}: resuming after epoch ${epochs.length}`);
    }
    const steps = (opened = await stepper(model, training.learning_rate, options.parallel, resume?.optimizer));
    const entities = options.entities ?? model.trainEntities;
    // An upper bound for the progress bar when only some slices are read.
    const epochRows = Math.min(dataset.rowCount({ split: "train", entities }), (options.maxBatchesPerEpoch ?? Infinity) * training.batch_size);
    const bar = (progress = stageProgress({ stage, epochs: maxEpochs, epochRows, epochsDone: epochs.length }, options.progress ?? false));
    for (let epoch = epochs.length + 1; epoch <= maxEpochs && !stoppedEarly; epoch++) {
      const epochStarted = performance.now();
      const means = new RunningMeans();
      bar.startEpoch(epoch);
      let samples = 0;
      let step = 0;
      const read = {
        split: "train" as const,
        entities,
        batchSize: training.batch_size,
        shuffle: { bufferRows: training.shuffle_buffer, seed: options.seed + epoch },
        ...(options.slices ? { slices: options.slices } : {}),
        ...(options.maxBatchesPerEpoch ? { maxBatches: options.maxBatchesPerEpoch } : {}),
      };
      await forEachBatch(dataset, read, async (batch) => {
        const loss = await steps.step(batch);
        means.add(loss, batch.size);
        samples += batch.size;
        step++;
        bar.update(samples, means.means().total!);
        options.onStep?.({ epoch, step, samples, loss });
      });
      const seconds = (performance.now() - epochStarted) / 1000;
      const validAuc = validate ? (await evaluateSplit(model, dataset, { split: "valid", batchSize: training.eval_batch_size, ...(steps.predict ? { predict: steps.predict } : {}) })).metrics.auc : NaN;
      // The first epoch is the best so far even when its AUC is NaN (e.g. a valid split without positives).
      const isBest = !validate || bestEpoch === 0 || validAuc > bestValidAuc;
      if (isBest) {
        bestEpoch = epoch;
        bestValidAuc = validAuc;
        // Without validation the last epoch is kept: there is never anything to restore.
        if (validate) {
          if (best) disposeSnapshot(best);
          best = snapshot(model.module);
        }
      }
      const entry: EpochLog = { epoch, seconds, samples, samplesPerSecond: samples / seconds, loss: means.means(), validAuc, best: isBest };
      epochs.push(entry);
      stoppedEarly = validate && epoch - bestEpoch >= training.patience && epoch < maxEpochs;
      const outcome = validate ? `valid AUC ${validAuc.toFixed(4)}${isBest ? " (best)" : ""}` : "done (no validation)";
      log().info({ stage, ...entry }, `${stage}: epoch ${epoch} ${outcome}`);
      bar.endEpoch();
      await options.onEpoch?.(entry, {
        epochs: [...epochs],
        bestEpoch,
        bestValidAuc,
        stoppedEarly,
        seconds: priorSeconds + (performance.now() - started) / 1000,
        final: stoppedEarly || epoch === maxEpochs,
        module: model.module,
        ...(best && bestEpoch !== epoch ? { best } : {}),
        optimizer: () => steps.optimizerState(),
      });
    }
    if (best && bestEpoch !== epochs.length) restore(model.module, best);
  } finally {
    progress?.stop();
    if (best) disposeSnapshot(best);
    await opened?.close();
  }
  return { epochs, bestEpoch, bestValidAuc, epochsRun: epochs.length, stoppedEarly, seconds: priorSeconds + (performance.now() - started) / 1000 };
}
