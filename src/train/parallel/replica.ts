/**
 * One replica of synchronous data-parallel training. Each step, every replica computes the
 * gradient of its part of the batch into shared memory (weighted by its share of the rows, so the
 * parts add up to the full batch's mean-loss gradient). The optimizer is sharded: each trainable
 * variable belongs to one replica, which sums that variable's parts (always in replica order), takes
 * the Adam step for it alone and publishes the new values in shared memory; every replica then
 * loads the variables it does not own from there. So the Adam work is split across the cores too,
 * every replica holds bit-identical weights, and the result is the same as one Adam over the
 * summed gradient (Adam treats each variable on its own).
 */
import { tf } from "../../engine/index.ts";
import type { Batch } from "../../data/batch.ts";
import { float32Values } from "../../engine/index.ts";
import { predictBatch } from "../../models/batch-loop.ts";
import { batchToTensors } from "../../models/inputs.ts";
import { Adam, type AdamState } from "../adam.ts";
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

/**
 * Shared memory of a replica group: each replica's part of the gradient (replicas × parameters),
 * per-part presence flags, and the current weights, each variable written by its owner after its
 * update. One step's parts are all read (every owner has applied) before the next step writes.
 */
export interface ExchangeBuffers {
  replicas: number;
  /** Trainable variable shapes, in trainableVariables() order. */
  shapes: number[][];
  gradients: SharedArrayBuffer;
  /** 1 where a replica's part had a gradient for the variable (a variable its rows never reach has none). */
  present: SharedArrayBuffer;
  /** Each part's share of the batch's rows (its gradient's weight in the sum), one float64 per replica. */
  partWeights: SharedArrayBuffer;
  weights: SharedArrayBuffer;
}

const sizeOf = (shape: readonly number[]) => shape.reduce((n, d) => n * d, 1);

export function createExchangeBuffers(replicas: number, shapes: number[][]): ExchangeBuffers {
  const total = shapes.reduce((n, s) => n + sizeOf(s), 0);
  const floats = (n: number) => new SharedArrayBuffer(n * Float32Array.BYTES_PER_ELEMENT);
  return { replicas, shapes, gradients: floats(replicas * total), present: new SharedArrayBuffer(replicas * shapes.length), partWeights: new SharedArrayBuffer(replicas * Float64Array.BYTES_PER_ELEMENT), weights: floats(total) };
}

/**
 * The replica owning each variable: largest variables first, each to the least-loaded replica
 * (ties to the lowest index), so the Adam work is balanced. Deterministic from the shapes alone.
 */
export function shardOwners(shapes: readonly number[][], replicas: number): number[] {
  const load = new Array<number>(replicas).fill(0);
  const owners = new Array<number>(shapes.length).fill(0);
  const order = shapes.map((shape, i) => ({ i, size: sizeOf(shape) })).sort((a, b) => b.size - a.size || a.i - b.i);
  for (const { i, size } of order) {
    let best = 0;
    for (let r = 1; r < replicas; r++) if (load[r]! < load[best]!) best = r;
    owners[i] = best;
    load[best]! += size;
  }
  return owners;
}

export class Replica<B> {
  readonly variables: tf.Variable[];
  private readonly optimizer: Adam;
  private readonly offsets: number[];
  private readonly total: number;
  private readonly gradients: Float32Array;
  private readonly present: Uint8Array;
  private readonly weightOfPart: Float64Array;
  private readonly weights: Float32Array;
  /** Indices of the variables this replica updates, and of those it loads from the others. */
  private readonly own: number[];
  private readonly others: number[];
  /** The summed gradient of the own variables, reused every step. */
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
    this.optimizer = new Adam(learningRate);
    this.offsets = [];
    let offset = 0;
    for (const shape of shapes) {
      this.offsets.push(offset);
      offset += sizeOf(shape);
    }
    this.total = offset;
    this.gradients = new Float32Array(buffers.gradients);
    this.present = new Uint8Array(buffers.present);
    this.weightOfPart = new Float64Array(buffers.partWeights);
    this.weights = new Float32Array(buffers.weights);
    const owners = shardOwners(shapes, buffers.replicas);
    this.own = owners.flatMap((owner, i) => (owner === slot ? [i] : []));
    this.others = owners.flatMap((owner, i) => (owner === slot ? [] : [i]));
    this.sum = new Float32Array(offset);
  }

  private region(slot: number): { values: number; flags: number } {
    return { values: slot * this.total, flags: slot * this.variables.length };
  }

  /**
   * Writes ∇(mean loss over `batch`) and `weight` (the part's share of the batch's rows) into this
   * replica's part; returns the loss and its named parts on these rows.
   */
  computeGradients(batch: B, weight: number): Record<string, number> {
    const { values, flags } = this.region(this.slot);
    if (weight === 0) {
      // An empty part (a batch with fewer rows than replicas): it contributes nothing, and its mean
      // loss would be NaN, which a zero weight cannot cancel (0 · NaN = NaN).
      this.present.fill(0, flags, flags + this.variables.length);
      this.weightOfPart[this.slot] = 0;
      return {};
    }
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
          if (g !== undefined) this.gradients.set(float32Values(g), values + this.offsets[i]!);
        });
        this.weightOfPart[this.slot] = weight;
      });
      const read = losses!.dataSync();
      return Object.fromEntries(names.map((name, i) => [name, read[i]!]));
    } finally {
      losses?.dispose();
    }
  }

  /**
   * For each variable this replica owns: sums every replica's part (in replica order), takes the
   * Adam step, and publishes the new values. Call loadOthers() once every replica has done this.
   */
  applyOwn(): void {
    const regions = Array.from({ length: this.buffers.replicas }, (_, slot) => ({ ...this.region(slot), weight: this.weightOfPart[slot]! }));
    tf.tidy(() => {
      const update: tf.NamedTensorMap = {};
      for (const i of this.own) {
        const v = this.variables[i]!;
        const start = this.offsets[i]!;
        const end = start + v.size;
        let any = false;
        this.sum.fill(0, start, end);
        for (const { values, flags, weight } of regions) {
          if (this.present[flags + i] === 0) continue;
          any = true;
          // The part's copy of variable i starts at values + start, as the sum's does at start.
          // Each weighted part is rounded to float32 before it is added, as when the parts were stored weighted.
          const sum = this.sum;
          const part = this.gradients;
          for (let j = start, p = values + start; j < end; j++, p++) sum[j] = sum[j]! + Math.fround(weight * part[p]!);
        }
        if (any) update[v.name] = tf.tensor(this.sum.subarray(start, end), v.shape, "float32");
      }
      this.optimizer.applyGradients(update);
    });
    for (const i of this.own) this.weights.set(float32Values(this.variables[i]!), this.offsets[i]!);
  }

  /** Loads the variables the other replicas own from their published values. */
  loadOthers(): void {
    tf.tidy(() => {
      for (const i of this.others) {
        const v = this.variables[i]!;
        v.assign(tf.tensor(this.weights.subarray(this.offsets[i]!, this.offsets[i]! + v.size), v.shape, "float32"));
      }
    });
  }

  /** The variables this replica updates, by logical name. */
  private ownNamed(): Map<string, tf.Variable> {
    const own = new Set(this.own.map((i) => this.variables[i]!));
    return new Map([...this.model.namedVariables()].filter(([, v]) => own.has(v)));
  }

  /** Adam's state for the variables this replica owns (the others' is kept by their owners). */
  exportOptimizer(): Promise<AdamState> {
    return this.optimizer.exportState(this.ownNamed());
  }

  /** Continues a saved training: the step count, and the moments of the variables this replica owns. */
  importOptimizer(state: AdamState): void {
    this.optimizer.importState(state, this.ownNamed());
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
