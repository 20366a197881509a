/**
 * One replica of synchronous data-parallel training: computes its part of a batch's gradient
 * into shared memory and applies the sum of every replica's part with its own Adam.
 *
 * Every replica sums the parts in the same order and runs the same kernels on the same backend, so
 * all replicas apply bit-identical updates and their weights stay identical without ever being
 * sent again after the start. Parts are weighted by their share of the batch's rows, so the sum is
 * the full batch's mean-loss gradient.
 */
import * as tf from "@tensorflow/tfjs";
import type { Batch } from "../../data/batch.ts";
import { batchToTensors } from "../../models/inputs.ts";
import { predictBatch } from "../evaluate.ts";
import type { CtrModel, LossResult } from "../../models/model.ts";

/** What data-parallel training needs of a model, whatever its batches are. */
export interface ReplicaModel<B> {
  /** Every variable (trainable or not) by a name that is the same in every replica. */
  namedVariables(): Map<string, tf.Variable>;
  trainableVariables(): tf.Variable[];
  /** The mean loss over `batch`'s rows; called inside tf.tidy (tensors it makes are freed). */
  lossOn(batch: B): LossResult;
  /** Scores of `batch`'s rows in its row order (replicas can then share evaluation too). */
  predict?(batch: B): Promise<Float32Array>;
  dispose(): void;
}

/** A CTR model on the reader's batches. */
export function ctrReplicaModel(model: CtrModel): ReplicaModel<Batch> {
  return {
    namedVariables: () => model.module.namedVariables(),
    trainableVariables: () => model.trainableVariables(),
    lossOn: (batch) => model.loss(batchToTensors(batch)),
    predict: (batch) => predictBatch(model, batch),
    dispose: () => model.module.dispose(),
  };
}

/** Shared gradient memory: 2 generations (so a replica can write step s+1 while another still reads step s) × replicas × parameters. */
export interface ExchangeBuffers {
  replicas: number;
  /** Trainable variable shapes, in trainableVariables() order. */
  shapes: number[][];
  gradients: SharedArrayBuffer;
  /** 1 where a replica's part had a gradient for the variable (a variable its rows never reach has none). */
  present: SharedArrayBuffer;
}

const sizeOf = (shape: readonly number[]) => shape.reduce((n, d) => n * d, 1);

export function createExchangeBuffers(replicas: number, shapes: number[][]): ExchangeBuffers {
  const total = shapes.reduce((n, s) => n + sizeOf(s), 0);
  return {
    replicas,
    shapes,
    gradients: new SharedArrayBuffer(2 * replicas * total * Float32Array.BYTES_PER_ELEMENT),
    present: new SharedArrayBuffer(2 * replicas * shapes.length),
  };
}

export class Replica<B> {
  readonly variables: tf.Variable[];
  private readonly optimizer: tf.Optimizer;
  private readonly offsets: number[];
  private readonly total: number;
  private readonly gradients: Float32Array;
  private readonly present: Uint8Array;
  /** The summed gradient, reused every step. */
  private readonly sum: Float32Array;

  constructor(
    readonly model: ReplicaModel<B>,
    learningRate: number,
    private readonly buffers: ExchangeBuffers,
    /** This replica's index (0 = the main thread). */
    private readonly slot: number,
  ) {
    this.variables = model.trainableVariables();
    const shapes = this.variables.map((v) => v.shape);
    if (JSON.stringify(shapes) !== JSON.stringify(buffers.shapes)) {
      throw new Error(`replica ${slot}: trainable variable shapes differ from the main model's (${shapes.length} vs ${buffers.shapes.length} variables)`);
    }
    this.optimizer = tf.train.adam(learningRate);
    this.offsets = [];
    let offset = 0;
    for (const shape of shapes) {
      this.offsets.push(offset);
      offset += sizeOf(shape);
    }
    this.total = offset;
    this.gradients = new Float32Array(buffers.gradients);
    this.present = new Uint8Array(buffers.present);
    this.sum = new Float32Array(offset);
  }

  private region(generation: number, slot: number): { values: number; flags: number } {
    const index = generation * this.buffers.replicas + slot;
    return { values: index * this.total, flags: index * this.variables.length };
  }

  /**
   * Writes weight × ∇(mean loss over `batch`) into this replica's region of `generation`; returns the
   * loss and its named parts on these rows.
   */
  computeGradients(batch: B, weight: number, generation: number): Record<string, number> {
    const { values, flags } = this.region(generation, this.slot);
    let names: string[] = [];
    let losses: tf.Tensor | undefined;
    try {
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => {
          const { total, parts } = this.model.lossOn(batch);
          names = ["total", ...Object.keys(parts)];
          losses = tf.keep(tf.stack([total, ...Object.values(parts)]));
          return total;
        }, this.variables);
        this.variables.forEach((v, i) => {
          const g = grads[v.name];
          this.present[flags + i] = g === undefined ? 0 : 1;
          if (g === undefined) return;
          const data = g.dataSync() as Float32Array;
          const start = values + this.offsets[i]!;
          for (let j = 0; j < data.length; j++) this.gradients[start + j] = weight * data[j]!;
        });
      });
      const read = losses!.dataSync();
      return Object.fromEntries(names.map((name, i) => [name, read[i]!]));
    } finally {
      losses?.dispose();
    }
  }

  /** Sums every replica's part of `generation` (in replica order) and takes one Adam step with it. */
  applySum(generation: number): void {
    const regions = Array.from({ length: this.buffers.replicas }, (_, slot) => this.region(generation, slot));
    tf.tidy(() => {
      const update: tf.NamedTensorMap = {};
      this.variables.forEach((v, i) => {
        const start = this.offsets[i]!;
        const end = start + v.size;
        let any = false;
        this.sum.fill(0, start, end);
        for (const { values, flags } of regions) {
          if (this.present[flags + i] === 0) continue;
          any = true;
          const from = values + start;
          for (let j = start; j < end; j++) this.sum[j] = this.sum[j]! + this.gradients[from + j - start]!;
        }
        if (any) update[v.name] = tf.tensor(this.sum.subarray(start, end), v.shape, "float32");
      });
      this.optimizer.applyGradients(update);
    });
  }

  predict(batch: B): Promise<Float32Array> {
    if (this.model.predict === undefined) throw new Error(`replica ${this.slot}: the model cannot predict`);
    return this.model.predict(batch);
  }

  /** Copies of the trainable values (tests compare replicas with them). */
  trainableValues(): Float32Array[] {
    return this.variables.map((v) => v.dataSync() as Float32Array).map((a) => a.slice());
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}
