import * as tf from "@tensorflow/tfjs";
import type { Batch, EntityName } from "../data/batch.ts";
import type { PreparedDataset } from "../data/reader.ts";
import type { BackendName } from "../engine/backend.ts";
import { batchToTensors, disposeBatchTensors } from "../models/inputs.ts";
import type { CtrModel } from "../models/model.ts";
import type { ExperimentSpec } from "../spec/experiment.ts";
import { log } from "../util/log.ts";
import { disposeSnapshot, restore, snapshot, type WeightSnapshot } from "./checkpoint.ts";
import { evaluateSplit } from "./evaluate.ts";
import { Adam } from "./adam.ts";
import type { ReplicaFactory } from "./parallel/factory.ts";
import { readerBatchRows, ReplicaGroup } from "./parallel/group.ts";
import { ctrReplicaModel } from "./parallel/replica.ts";
import { epochProgress } from "./progress.ts";

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

export interface TrainOptions {
  training: TrainingSettings;
  /** The shuffle seed of epoch e is seed + e. */
  seed: number;
  /** Name in logs and the progress bar (default: the model's name), e.g. "mkt/mem". */
  stage?: string;
  /** Draw a progress bar per epoch (pass false in JSON mode; never drawn unless stderr is a TTY). */
  progress?: boolean;
  /** Called after each epoch's validation, e.g. to write the epoch logs atomically. */
  onEpoch?: (entry: EpochLog) => void | Promise<void>;
  /** Called after each optimizer step (tests use it to watch memory). */
  onStep?: (info: StepInfo) => void;
  /** Stop each epoch after this many batches (tests, smoke runs). */
  maxBatchesPerEpoch?: number;
  /** Rows to train on (default: the model's trainEntities), e.g. ["source"] to pre-train a model. */
  entities?: readonly EntityName[];
  /**
   * "target" (default): validate on the target valid split after each epoch, stop early after
   * `patience` epochs without improvement and keep the best epoch. "none": no validation, run every
   * epoch and keep the last (e.g. a continual slice, or a model whose target AUC means nothing).
   */
  validation?: "target" | "none";
  /** Only training rows of these time slices (continual training). */
  slices?: readonly number[];
  /** Overrides training.max_epochs (with validation "none", the exact number of epochs). */
  maxEpochs?: number;
  /** Synchronous data-parallel training over worker threads (see parallel/group.ts); absent or 1 replica: this thread alone. */
  parallel?: ParallelTraining;
}

export interface ParallelTraining {
  /** Replicas including this thread's. */
  replicas: number;
  /** How a worker builds its replica of the model. */
  factory: ReplicaFactory;
  backend: BackendName;
  kernelOverrides: boolean;
}

/** Takes optimizer steps on batches: in this thread, or across a replica group. */
interface Stepper {
  step(batch: Batch): Promise<Record<string, number>>;
  /** Scores for validation, across the replicas when there are several. */
  predict?: (batch: Batch) => Promise<Float32Array>;
  close(): Promise<void>;
}

async function stepper(model: CtrModel, learningRate: number, parallel: ParallelTraining | undefined): Promise<Stepper> {
  if (parallel !== undefined && parallel.replicas > 1) {
    const group = await ReplicaGroup.start(ctrReplicaModel(model), readerBatchRows, { ...parallel, learningRate });
    return { step: (batch) => group.step(batch), predict: (batch) => group.predict(batch), close: () => group.close() };
  }
  const optimizer = new Adam(learningRate);
  const variables = model.trainableVariables();
  return {
    step: (batch) => trainStep(model, optimizer, variables, batch),
    close: () => {
      optimizer.dispose();
      return Promise.resolve();
    },
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
 * One Adam step on a batch; returns the loss and its parts. The batch tensors live only for the
 * step, and everything the step creates is released by tf.tidy except the stacked loss values,
 * kept on purpose to be read back after the update.
 */
export async function trainStep(model: CtrModel, optimizer: Adam, variables: tf.Variable[], batch: Batch): Promise<Record<string, number>> {
  const t = batchToTensors(batch);
  const kept: tf.Tensor[] = [];
  let names: string[] = [];
  try {
    tf.tidy(() => {
      optimizer.minimize(() => {
        const { total, parts } = model.loss(t);
        names = ["total", ...Object.keys(parts)];
        kept.push(tf.keep(tf.stack([total, ...Object.values(parts)])));
        return total;
      }, variables);
    });
    const values = await kept[0]!.data();
    return Object.fromEntries(names.map((name, i) => [name, values[i]!]));
  } finally {
    tf.dispose(kept);
    disposeBatchTensors(t);
  }
}

/**
 * Trains `model` with Adam on its train entities (or `options.entities`), one shuffled pass per
 * epoch, validating on the target valid split after each epoch. Stops when the valid AUC has not
 * improved for `patience` epochs and returns with the best epoch's weights in the model. Without
 * validation every epoch supersedes the previous one: all epochs run, each is logged as the best
 * so far, and the last one's weights stay (bestValidAuc is NaN). The optimizer's state is released
 * on return, so only the model's variables remain.
 */
export async function trainModel(model: CtrModel, dataset: PreparedDataset, options: TrainOptions): Promise<TrainResult> {
  const { training } = options;
  const stage = options.stage ?? model.name;
  const started = performance.now();
  const steps = await stepper(model, training.learning_rate, options.parallel);
  const entities = options.entities ?? model.trainEntities;
  const validate = (options.validation ?? "target") === "target";
  const maxEpochs = options.maxEpochs ?? training.max_epochs;
  // An upper bound for the progress bar when only some slices are read.
  const epochRows = dataset.rowCount({ split: "train", entities });
  const epochs: EpochLog[] = [];
  let best: WeightSnapshot | undefined;
  let bestEpoch = 0;
  let bestValidAuc = NaN;
  let stoppedEarly = false;
  try {
    for (let epoch = 1; epoch <= maxEpochs; epoch++) {
      const epochStarted = performance.now();
      const means = new RunningMeans();
      const total = Math.min(epochRows, (options.maxBatchesPerEpoch ?? Infinity) * training.batch_size);
      const progress = epochProgress(`${stage} epoch ${epoch}`, total, options.progress ?? false);
      let samples = 0;
      let step = 0;
      try {
        const batches = dataset.batches({
          split: "train",
          entities,
          batchSize: training.batch_size,
          shuffle: { bufferRows: training.shuffle_buffer, seed: options.seed + epoch },
          ...(options.slices ? { slices: options.slices } : {}),
        });
        for await (const batch of batches) {
          const loss = await steps.step(batch);
          dataset.recycle(batch); // the step has made its tensors (and replicas their copies)
          means.add(loss, batch.size);
          samples += batch.size;
          step++;
          progress.update(samples, means.means().total!);
          options.onStep?.({ epoch, step, samples, loss });
          if (step === options.maxBatchesPerEpoch) break;
        }
      } finally {
        progress.stop();
      }
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
      const outcome = validate ? `valid AUC ${validAuc.toFixed(4)}${isBest ? " (best)" : ""}` : "done (no validation)";
      log().info({ stage, ...entry }, `${stage}: epoch ${epoch} ${outcome}`);
      await options.onEpoch?.(entry);
      if (validate && epoch - bestEpoch >= training.patience && epoch < maxEpochs) {
        stoppedEarly = true;
        break;
      }
    }
    if (best && bestEpoch !== epochs.length) restore(model.module, best);
  } finally {
    if (best) disposeSnapshot(best);
    await steps.close();
  }
  return { epochs, bestEpoch, bestValidAuc, epochsRun: epochs.length, stoppedEarly, seconds: (performance.now() - started) / 1000 };
}
