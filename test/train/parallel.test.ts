import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sliceBatch, type Batch } from "../../src/data/batch.ts";
import type { PreparedDataset } from "../../src/data/reader.ts";
import { selectBackend } from "../../src/engine/backend.ts";
import { loadBlas } from "../../src/engine/blas.ts";
import { recipeByName } from "../../src/models/registry.ts";
import { buildRecipeModel, type StageReplicaArgs } from "../../src/run/stage-replica.ts";
import type { CtnetSource } from "../../src/models/baselines/ctnet.ts";
import { StageRunner } from "../../src/run/stages.ts";
import { evaluateSplit } from "../../src/train/evaluate.ts";
import { predictBatch } from "../../src/models/batch-loop.ts";
import { buildDenseReplica, denseRows } from "../../benchmarks/dense-replica.ts";
import { readerBatchRows, ReplicaGroup } from "../../src/train/parallel/group.ts";
import { ctrReplicaModel } from "../../src/train/parallel/replica.ts";
import { Adam } from "../../src/train/adam.ts";
import { trainStep } from "../../src/train/trainer.ts";
import { testSpec } from "../models/baselines/stage-context.ts";
import { openTinyDataset } from "./helpers.ts";

const blasState = await loadBlas(); // where the machine has OpenBLAS

let outRoot: string;
let dataset: PreparedDataset;
let cleanup: () => Promise<void>;
// CTNet's two-stage mode (its stages "source" and "target"); on this time-split data the default is continual.
const spec = testSpec({ ctnet: { continual: false } }, { batch_size: 512, learning_rate: 5e-3, max_epochs: 2, patience: 2 });

beforeAll(async () => {
  await selectBackend("wasm");
  ({ dataset, outRoot, cleanup } = await openTinyDataset());
});

afterAll(async () => {
  await cleanup();
});

async function firstBatches(count: number, entities: ("source" | "target")[]): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of dataset.batches({ split: "train", entities, batchSize: 512, shuffle: { bufferRows: 65_536, seed: 3 } })) {
    out.push(b);
    if (out.length === count) break;
  }
  return out;
}

const replicaArgs = (recipe: string, model: string): StageReplicaArgs => ({ datasetDir: dataset.dir, spec, seed: 1, recipe, model });
/** A stage's model as the worker builds it. */
const buildStageReplica = (args: StageReplicaArgs) => buildRecipeModel(recipeByName(args.recipe), { schema: dataset.schema, spec, seed: args.seed }, args.model);
const factory = (args: StageReplicaArgs) => ({ module: new URL("../../src/run/stage-replica.ts", import.meta.url).href, exportName: "buildStageReplicaModel", args });

describe("sliceBatch", () => {
  it("takes rows [start, end) of every column and sequence, as views or copies", async () => {
    const [batch] = await firstBatches(1, ["source", "target"]);
    const part = sliceBatch(batch!, 100, 130, true);
    expect(part.size).toBe(30);
    expect(Array.from(part.label)).toEqual(Array.from(batch!.label.subarray(100, 130)));
    for (const [name, s] of Object.entries(batch!.sequences)) {
      for (const [feature, ids] of Object.entries(s.ids)) {
        expect(Array.from(part.sequences[name]!.ids[feature]!)).toEqual(Array.from(ids.subarray(100 * s.maxlen, 130 * s.maxlen)));
      }
      expect(Array.from(part.sequences[name]!.length)).toEqual(Array.from(s.length.subarray(100, 130)));
    }
    part.label[0] = 42;
    expect(batch!.label[100]).not.toBe(42); // a copy
    const view = sliceBatch(batch!, 100, 130, false);
    view.label[0] = 42;
    expect(batch!.label[100]).toBe(42); // a view
  });
});

describe("data-parallel training across worker threads", () => {
  it("keeps every replica bit-identical, follows single-thread training closely and keeps the tensor count flat", async () => {
    const batches = await firstBatches(6, ["source", "target"]);
    const args = replicaArgs("mmoe", "model");
    const parallelModel = buildStageReplica(args);
    const singleModel = buildStageReplica(args); // same seed: same initial weights
    const group = await ReplicaGroup.start(ctrReplicaModel(parallelModel), readerBatchRows, { replicas: 2, factory: factory(args), learningRate: 5e-3, backend: "wasm", kernelOverrides: true });
    const optimizer = new Adam(5e-3);
    const tensorCounts: number[] = [];
    try {
      for (const batch of batches) {
        const parallelLoss = await group.step(batch);
        const singleLoss = await trainStep(singleModel, optimizer, singleModel.trainableVariables(), batch);
        // Same loss on the same weights, up to float summation order (the weights drift apart slowly).
        expect(Math.abs(parallelLoss.total! - singleLoss.total!)).toBeLessThan(2e-3);
        tensorCounts.push(tf.memory().numTensors);
      }
      const [main, worker] = await group.trainableValues();
      expect(worker!.length).toBe(main!.length);
      main!.forEach((values, i) => expect(Buffer.from(worker![i]!.buffer).equals(Buffer.from(values.buffer))).toBe(true));
      // The weights moved, and moved like single-thread training's.
      const single = singleModel.trainableVariables().map((v) => v.dataSync());
      let maxDiff = 0;
      let moved = 0;
      main!.forEach((values, i) => {
        for (let j = 0; j < values.length; j++) maxDiff = Math.max(maxDiff, Math.abs(values[j]! - single[i]![j]!));
      });
      const initial = buildStageReplica(args).trainableVariables().map((v) => v.dataSync());
      main!.forEach((values, i) => {
        for (let j = 0; j < values.length; j++) moved = Math.max(moved, Math.abs(values[j]! - initial[i]![j]!));
      });
      expect(moved).toBeGreaterThan(1e-2);
      expect(maxDiff).toBeLessThan(moved / 10);
      expect(new Set(tensorCounts.slice(1)).size).toBe(1);
      // A batch with fewer rows than replicas (an epoch's last one can have a single row): the empty
      // part adds nothing, and every weight stays finite and identical across the replicas.
      const oneRow = sliceBatch(batches[0]!, 0, 1, true);
      const oneRowLoss = await group.step(oneRow);
      expect(Number.isFinite(oneRowLoss.total)).toBe(true);
      const [mainAfter, workerAfter] = await group.trainableValues();
      mainAfter!.forEach((values, i) => {
        expect(values.every(Number.isFinite)).toBe(true);
        expect(Buffer.from(workerAfter![i]!.buffer).equals(Buffer.from(values.buffer))).toBe(true);
      });
      expect((await group.predict(oneRow)).length).toBe(1);
      // Evaluation shared across the replicas scores every row as the main model alone does.
      const shared = await group.predict(batches[0]!);
      const alone = await predictBatch(parallelModel, batches[0]!);
      expect(shared.length).toBe(batches[0]!.size);
      let scoreDiff = 0;
      for (let i = 0; i < shared.length; i++) scoreDiff = Math.max(scoreDiff, Math.abs(shared[i]! - alone[i]!));
      expect(scoreDiff).toBeLessThan(1e-6);
    } finally {
      await group.close();
      optimizer.dispose();
      parallelModel.module.dispose();
      singleModel.module.dispose();
    }
  });

  it.skipIf(!blasState.blas)("keeps OpenBLAS on one thread while replicas compute, and gives its threads back between steps", async () => {
    // Two replicas computing at once on OpenBLAS's one (process-wide) thread pool wait for each
    // other on its lock, and its threads beside a busy worker oversubscribe the cores. Outside the
    // steps the main thread alone may use them (e.g. training alone while a group stays open).
    const blas = blasState.blas!;
    const threads = blas.threads();
    const args = replicaArgs("mlp", "model");
    const model = buildStageReplica(args);
    const replica = ctrReplicaModel(model);
    const during: number[] = [];
    const observed = { ...replica, lossOn: (batch: Batch) => (during.push(blas.threads()), replica.lossOn(batch)) };
    const group = await ReplicaGroup.start(observed, readerBatchRows, { replicas: 2, factory: factory(args), learningRate: 5e-3, backend: "wasm", kernelOverrides: true });
    try {
      expect(blas.threads()).toBe(threads);
      const [batch] = await firstBatches(1, ["target"]);
      await group.step(batch!);
      expect(during).toEqual([1]);
      expect(blas.threads()).toBe(threads);
    } finally {
      await group.close();
      model.module.dispose();
    }
  });

  it("trains a model to the same quality as a single thread on synthetic-tiny", async () => {
    const auc = async (replicas: number): Promise<number> => {
      const runner = new StageRunner(dataset, spec, 1, join(outRoot, `run-${replicas}`), { progress: false, parallel: { replicas, backend: "wasm", kernelOverrides: true } });
      const model = (await runner.run(recipeByName("mmoe"))).model!;
      try {
        return (await evaluateSplit(model, dataset, { split: "test", batchSize: 4096 })).metrics.auc;
      } finally {
        model.module.dispose();
      }
    };
    const single = await auc(1);
    const parallel = await auc(2);
    expect(single).toBeGreaterThan(0.6); // it learned the planted signal
    expect(Math.abs(parallel - single)).toBeLessThan(0.02);
  });

  it("gives the workers the main model's trainable flags (a worker's fresh build has every parameter trainable)", async () => {
    const args = replicaArgs("ctnet", "source");
    const model = buildStageReplica(args) as CtnetSource;
    const all = model.trainableVariables().length;
    model.frontEnd.setTrainable(false);
    expect(model.trainableVariables().length).toBeLessThan(all);
    const group = await ReplicaGroup.start(ctrReplicaModel(model), readerBatchRows, { replicas: 2, factory: factory(args), learningRate: 5e-3, backend: "wasm", kernelOverrides: true });
    try {
      const [batch] = await firstBatches(1, ["source"]);
      await group.step(batch!);
      const [main, worker] = await group.trainableValues();
      expect(main!.length).toBe(model.trainableVariables().length);
      expect(worker!.length).toBe(main!.length);
      main!.forEach((values, i) => expect(Buffer.from(worker![i]!.buffer).equals(Buffer.from(values.buffer))).toBe(true));
    } finally {
      await group.close();
      model.module.dispose();
    }
  });

  for (const mode of ["throw", "exit"] as const) {
    it(`a worker that fails mid-training (${mode}) fails the step, and the group still closes`, async () => {
      const args = { inputWidth: 6, layers: [4, 1], seed: 1 };
      const main = await buildDenseReplica(args);
      const group = await ReplicaGroup.start(main, denseRows, {
        replicas: 2,
        factory: { module: new URL("./fixtures/failing-replica.ts", import.meta.url).href, exportName: "buildFailingReplica", args: { ...args, mode } },
        learningRate: 1e-3,
        backend: "wasm",
        kernelOverrides: true,
      });
      try {
        const rows = { width: 6, x: new Float32Array(8 * 6).fill(0.5), y: new Float32Array(8).fill(1) };
        await expect(group.step(rows)).rejects.toThrow(mode === "throw" ? /boom in the replica's loss/ : /replica worker exited/);
      } finally {
        await group.close();
        main.dispose();
      }
    });
  }

  it("reports a worker's failure as an error instead of hanging", async () => {
    const model = buildStageReplica(replicaArgs("mlp", "model"));
    try {
      await expect(ReplicaGroup.start(ctrReplicaModel(model), readerBatchRows, { replicas: 2, factory: factory(replicaArgs("mlp", "no-such-model")), learningRate: 1e-3, backend: "wasm", kernelOverrides: true })).rejects.toThrow(/replica worker: recipe mlp has no model 'no-such-model'/);
    } finally {
      model.module.dispose();
    }
  });
});
