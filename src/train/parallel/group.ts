/**
 * Synchronous data-parallel training over worker threads (the main thread is replica 0): each
 * batch is cut into one contiguous part per replica, every replica computes its part's gradient at
 * the same time, then each takes the Adam step for the variables it owns and all load the rest
 * (see replica.ts). wasm runs on one thread per backend instance, so this is how training uses
 * more than one core there.
 */
import { Worker } from "node:worker_threads";
import { batchBuffers, sliceBatch, type Batch } from "../../data/batch.ts";
import { setBlasReplicaMode, type BackendName } from "../../engine/index.ts";
import type { AdamState } from "../adam.ts";
import type { FromWorker, ReplicaFactory, ToWorker } from "./protocol.ts";
import { createExchangeBuffers, Replica, type ReplicaModel } from "./replica.ts";
import { loadableModule } from "../../util/modules.ts";

/** A worker's entry: bundled, the worker's own entry; from the sources, a bootstrap that registers tsx first. */
const workerEntry = () => loadableModule(import.meta.url, "worker", "./worker-bootstrap.mjs");

/** How the main thread cuts a batch into per-replica parts. */
export interface BatchRows<B> {
  size(batch: B): number;
  /** Rows [start, end): with `copy`, arrays of its own (to transfer), else views. */
  slice(batch: B, start: number, end: number, copy: boolean): B;
  /** The buffers to transfer when posting a copied part. */
  buffers(batch: B): ArrayBuffer[];
}

/** The reader's batches. */
export const readerBatchRows: BatchRows<Batch> = { size: (b) => b.size, slice: sliceBatch, buffers: batchBuffers };

export interface ReplicaGroupOptions {
  /** Replicas including the main thread's (≥ 2). */
  replicas: number;
  factory: ReplicaFactory;
  learningRate: number;
  backend: BackendName;
  kernelOverrides: boolean;
  /** A resumed training's Adam state (each replica takes the moments of the variables it owns). */
  optimizer?: AdamState;
}

/** Steps and predictions of replica groups under way (OpenBLAS stays on one thread while any is). */
let computing = 0;

/**
 * Runs `work` (replicas computing at the same time) with every OpenBLAS product on its caller's
 * thread; the main thread's products alone use OpenBLAS's threads again once no replicas compute.
 */
async function whileReplicasCompute<T>(work: () => Promise<T>): Promise<T> {
  if (computing++ === 0) setBlasReplicaMode(true);
  try {
    return await work();
  } finally {
    if (--computing === 0) setBlasReplicaMode(false);
  }
}

type Waiter = { type: FromWorker["type"]; resolve: (m: FromWorker) => void; reject: (e: Error) => void };

/** A worker and the replies it owes, in order. */
class ReplicaWorker {
  private readonly waiting: Waiter[] = [];
  private failure: Error | undefined;
  /** Resolves when the thread has exited, however it ended. */
  readonly exited: Promise<void>;

  constructor(readonly worker: Worker) {
    this.exited = new Promise((resolve) => worker.once("exit", () => resolve()));
    worker.on("message", (m: FromWorker) => {
      if (m.type === "error") return this.fail(new Error(`replica worker: ${m.message}${m.stack ? `\n${m.stack}` : ""}`));
      const next = this.waiting.shift();
      if (next === undefined || next.type !== m.type) return this.fail(new Error(`replica worker: unexpected reply '${m.type}'`));
      next.resolve(m);
    });
    worker.on("error", (e) => this.fail(e));
    worker.on("exit", (code) => this.fail(new Error(`replica worker exited (code ${code})`)));
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const w of this.waiting.splice(0)) w.reject(this.failure);
  }

  post(message: ToWorker, transfer: ArrayBuffer[] = []): void {
    if (this.failure) throw this.failure;
    this.worker.postMessage(message, transfer);
  }

  reply<T extends FromWorker["type"]>(type: T): Promise<Extract<FromWorker, { type: T }>> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => this.waiting.push({ type, resolve: resolve as (m: FromWorker) => void, reject }));
  }

  /** Posts `message` and returns the worker's reply to it, of type `type`. */
  ask<T extends FromWorker["type"]>(message: ToWorker, type: T, transfer: ArrayBuffer[] = []): Promise<Extract<FromWorker, { type: T }>> {
    const reply = this.reply(type);
    this.post(message, transfer);
    return reply;
  }
}

export class ReplicaGroup<B> {
  private constructor(
    private readonly main: Replica<B>,
    private readonly rows: BatchRows<B>,
    private readonly workers: ReplicaWorker[],
  ) {}

  /** Starts the workers, builds their replicas and gives them `model`'s current weights. */
  static async start<B>(model: ReplicaModel<B>, rows: BatchRows<B>, options: ReplicaGroupOptions): Promise<ReplicaGroup<B>> {
    if (options.replicas < 2) throw new Error("a replica group needs at least 2 replicas");
    const shapes = model.trainableVariables().map((v) => v.shape);
    const buffers = createExchangeBuffers(options.replicas, shapes);
    const main = new Replica(model, options.learningRate, buffers, 0);
    if (options.optimizer) main.importOptimizer(options.optimizer);
    const workers: ReplicaWorker[] = [];
    try {
      for (let slot = 1; slot < options.replicas; slot++) {
        workers.push(new ReplicaWorker(new Worker(workerEntry(), { execArgv: [] })));
      }
      const values: Record<string, { shape: number[]; data: Float32Array; trainable: boolean }> = {};
      for (const [name, v] of model.namedVariables()) values[name] = { shape: v.shape, data: v.dataSync() as Float32Array, trainable: v.trainable };
      await Promise.all(
        workers.map(async (w, i) => {
          const init: ToWorker = { type: "init", factory: options.factory, backend: options.backend, kernelOverrides: options.kernelOverrides };
          const { backend } = await w.ask(init, "ready");
          if (backend !== options.backend) throw new Error(`replica worker runs on ${backend}, the main thread on ${options.backend}`);
          const optimizer = options.optimizer ? { optimizer: options.optimizer } : {};
          await w.ask({ type: "weights", values, learningRate: options.learningRate, buffers, slot: i + 1, ...optimizer }, "loaded");
        }),
      );
    } catch (error) {
      main.dispose();
      await Promise.all(workers.map((w) => w.worker.terminate()));
      throw error;
    }
    return new ReplicaGroup(main, rows, workers);
  }

  get replicas(): number {
    return this.workers.length + 1;
  }

  /** Row bounds of each replica's part: replica k takes rows [bounds[k], bounds[k + 1]). */
  private bounds(size: number): number[] {
    const n = this.replicas;
    return Array.from({ length: n + 1 }, (_, k) => Math.round((k * size) / n));
  }

  /** Scores of every row of `batch`, each replica scoring its part at the same time. */
  predict(batch: B): Promise<Float32Array> {
    return whileReplicasCompute(() => this.predictInParts(batch));
  }

  private async predictInParts(batch: B): Promise<Float32Array> {
    const size = this.rows.size(batch);
    const bounds = this.bounds(size);
    const replies = this.workers.map((w, i) => {
      if (bounds[i + 2] === bounds[i + 1]) return Promise.resolve({ scores: new Float32Array(0) }); // an empty part
      const part = this.rows.slice(batch, bounds[i + 1]!, bounds[i + 2]!, true);
      return w.ask({ type: "predict", batch: part }, "scores", this.rows.buffers(part));
    });
    const scores = new Float32Array(size);
    scores.set(await this.main.predict(this.rows.slice(batch, bounds[0]!, bounds[1]!, false)), 0);
    (await Promise.all(replies)).forEach((r, i) => scores.set(r.scores, bounds[i + 1]!));
    return scores;
  }

  /** One synchronous step on `batch`: returns the batch's loss and named parts (row-weighted means). */
  step(batch: B): Promise<Record<string, number>> {
    return whileReplicasCompute(() => this.stepInParts(batch));
  }

  private async stepInParts(batch: B): Promise<Record<string, number>> {
    const size = this.rows.size(batch);
    const bounds = this.bounds(size);
    const weight = (k: number) => (bounds[k + 1]! - bounds[k]!) / size;
    const replies = this.workers.map((w, i) => {
      const part = this.rows.slice(batch, bounds[i + 1]!, bounds[i + 2]!, true);
      return w.ask({ type: "gradients", batch: part, weight: weight(i + 1) }, "gradients", this.rows.buffers(part));
    });
    const own = this.main.computeGradients(this.rows.slice(batch, bounds[0]!, bounds[1]!, false), weight(0));
    const parts = [own, ...(await Promise.all(replies)).map((r) => r.loss)];
    const applied = this.askAll({ type: "apply" }, "applied");
    this.main.applyOwn();
    await applied;
    this.main.loadOthers();
    const loss: Record<string, number> = {};
    for (const name of Object.keys(own)) loss[name] = parts.reduce((s, p, k) => s + weight(k) * (p[name] ?? 0), 0);
    return loss;
  }

  /** Trainable values of every replica, main first (tests check that they stay identical). */
  async trainableValues(): Promise<Float32Array[][]> {
    const others = await this.askAll({ type: "values" }, "values");
    return [this.main.trainableValues(), ...others.map((r) => r.values)];
  }

  /** Adam's state over all replicas: each variable's moments come from the replica that owns it. */
  async optimizerState(): Promise<AdamState> {
    const others = await this.askAll({ type: "optimizer" }, "optimizer");
    const state = await this.main.exportOptimizer();
    for (const { state: part } of others) {
      if (part.steps !== state.steps) throw new Error(`replica worker: ${part.steps} Adam steps, the main thread ${state.steps}`);
      for (const [name, moments] of part.moments) state.moments.set(name, moments);
    }
    return state;
  }

  /** Posts `message` to every worker and waits for each one's reply of type `reply`. */
  private askAll<T extends FromWorker["type"]>(message: ToWorker, reply: T): Promise<Extract<FromWorker, { type: T }>[]> {
    return Promise.all(this.workers.map((w) => w.ask(message, reply)));
  }

  /** Stops every worker (a worker that failed or already exited is terminated or simply awaited). */
  async close(): Promise<void> {
    this.main.dispose();
    await Promise.all(
      this.workers.map((w) => {
        try {
          w.post({ type: "close" });
        } catch {
          void w.worker.terminate();
        }
        return w.exited;
      }),
    );
  }
}
