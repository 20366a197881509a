import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PreparedDataset } from "../../src/data/reader.ts";
import { evaluateSplit } from "../../src/train/evaluate.ts";
import { startRunProgress, type ProgressFields } from "../../src/train/progress.ts";
import { trainModel, type EpochLog } from "../../src/train/trainer.ts";
import { openTinyDataset, TinyModel, training, weightValues } from "./helpers.ts";

let dataset: PreparedDataset;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  await tf.setBackend("cpu");
  ({ dataset, cleanup } = await openTinyDataset());
});

afterAll(async () => {
  await cleanup();
});

describe("trainModel", () => {
  it("learns on synthetic-tiny and logs every epoch", async () => {
    const model = new TinyModel(dataset.schema, { seed: 1 });
    const logged: EpochLog[] = [];
    const result = await trainModel(model, dataset, { training: training({ max_epochs: 3, learning_rate: 0.02 }), seed: 1, onEpoch: (e) => void logged.push(e) });
    expect(result.epochsRun).toBe(3);
    expect(logged).toEqual(result.epochs);
    const rows = dataset.rowCount({ split: "train", entities: ["target"] });
    for (const e of result.epochs) {
      expect(e.samples).toBe(rows);
      expect(e.samplesPerSecond).toBeGreaterThan(0);
      expect(Object.keys(e.loss).sort()).toEqual(["bce", "l2", "total"]);
      expect(e.loss.total).toBeCloseTo(e.loss.bce! + e.loss.l2!, 5);
    }
    expect(result.epochs[2]!.loss.bce!).toBeLessThan(result.epochs[0]!.loss.bce!);
    expect(result.bestValidAuc).toBe(result.epochs[result.bestEpoch - 1]!.validAuc);
    expect(result.bestValidAuc).toBeGreaterThan(0.6);
    const test = await evaluateSplit(model, dataset, { split: "test", batchSize: 1024 });
    expect(test.metrics.auc).toBeGreaterThan(0.6);
  });

  it("keeps the tensor count flat across steps and epochs and releases everything at the end", async () => {
    const model = new TinyModel(dataset.schema, { seed: 2, trainEntities: ["source", "target"] });
    const atStart = tf.memory().numTensors;
    const perStep: number[][] = [[], [], []];
    const perEpoch: number[] = [];
    await trainModel(model, dataset, {
      training: training({ max_epochs: 3, patience: 3 }),
      seed: 2,
      maxBatchesPerEpoch: 6,
      onStep: ({ epoch }) => void perStep[epoch - 1]!.push(tf.memory().numTensors),
      onEpoch: () => void perEpoch.push(tf.memory().numTensors),
    });
    expect(perEpoch).toHaveLength(3);
    expect(perEpoch[2]).toBe(perEpoch[0]);
    // Adam's slots appear at the first step; from then on a step allocates nothing that survives.
    expect(new Set(perStep[0])).toEqual(new Set([perStep[0]![0]]));
    // From epoch 2 on, the best epoch's snapshot (one tensor per variable) is held as well.
    const variables = model.module.variables().length;
    expect(new Set([...perStep[1]!, ...perStep[2]!])).toEqual(new Set([perStep[0]![0]! + variables]));
    expect(tf.memory().numTensors).toBe(atStart);
  });

  it("is deterministic given the seeds", async () => {
    const run = async () => {
      const model = new TinyModel(dataset.schema, { seed: 3, trainEntities: ["source", "target"] });
      const result = await trainModel(model, dataset, { training: training({ max_epochs: 2 }), seed: 7, maxBatchesPerEpoch: 5 });
      const weights = weightValues(model.module);
      model.module.dispose();
      return { losses: result.epochs.map((e) => [e.loss, e.validAuc]), weights };
    };
    const [a, b] = [await run(), await run()];
    expect(b.losses).toEqual(a.losses);
    expect(b.weights).toEqual(a.weights);
  });

  it("stops after `patience` epochs without improvement (a model that cannot learn)", async () => {
    for (const patience of [1, 2]) {
      const model = new TinyModel(dataset.schema, { seed: 4 });
      const result = await trainModel(model, dataset, {
        training: training({ learning_rate: 0, patience, max_epochs: 10 }),
        seed: 4,
        maxBatchesPerEpoch: 2,
      });
      expect(result.epochsRun).toBe(1 + patience);
      expect(result.bestEpoch).toBe(1);
      expect(result.stoppedEarly).toBe(true);
      expect(result.epochs.map((e) => e.best)).toEqual([true, ...Array<boolean>(patience).fill(false)]);
    }
  });

  it("returns with the best epoch's weights when a later epoch validates worse", async () => {
    const model = new TinyModel(dataset.schema, { seed: 5 });
    const weightsAfter: Map<string, Float32Array>[] = [];
    const result = await trainModel(model, dataset, {
      training: training({ patience: 1, max_epochs: 5 }),
      seed: 5,
      onEpoch: (e) => {
        weightsAfter.push(weightValues(model.module));
        // From epoch 2 on, inverted scores make the valid AUC worse than epoch 1's.
        if (e.epoch === 1) model.invert = true;
      },
    });
    expect(result.epochsRun).toBe(2);
    expect(result.bestEpoch).toBe(1);
    expect(result.epochs[1]!.validAuc).toBeLessThan(result.epochs[0]!.validAuc);
    expect(weightsAfter[1]).not.toEqual(weightsAfter[0]);
    expect(weightValues(model.module)).toEqual(weightsAfter[0]);
  });

  it("trains on `entities` instead of the model's trainEntities, reading only the `slices` given", async () => {
    const model = new TinyModel(dataset.schema, { seed: 6 });
    const entities = ["source", "target"] as const;
    const [first] = await dataset.slices("train", entities);
    let expected = 0;
    for await (const batch of dataset.batches({ split: "train", entities, batchSize: 4096, slices: [first!] })) expected += batch.size;
    expect(expected).toBeGreaterThan(0);
    expect(expected).toBeLessThan(dataset.rowCount({ split: "train", entities }));
    const result = await trainModel(model, dataset, { training: training({ max_epochs: 1 }), seed: 6, entities, slices: [first!] });
    expect(result.epochs[0]!.samples).toBe(expected);
  });

  it("without validation runs every epoch (maxEpochs overriding max_epochs) and keeps the last", async () => {
    const model = new TinyModel(dataset.schema, { seed: 7 });
    const weightsAfter: Map<string, Float32Array>[] = [];
    const result = await trainModel(model, dataset, {
      training: training({ patience: 1, max_epochs: 10 }),
      seed: 7,
      validation: "none",
      maxEpochs: 3,
      maxBatchesPerEpoch: 2,
      onEpoch: (e) => {
        weightsAfter.push(weightValues(model.module));
        // Validated, the inverted scores would stop the run after epoch 2 and restore epoch 1.
        if (e.epoch === 1) model.invert = true;
      },
    });
    expect(result.epochsRun).toBe(3);
    expect(result.stoppedEarly).toBe(false);
    expect(result.bestEpoch).toBe(3);
    expect(result.bestValidAuc).toBeNaN();
    expect(result.epochs.map((e) => [e.validAuc, e.best])).toEqual([
      [NaN, true],
      [NaN, true],
      [NaN, true],
    ]);
    expect(weightsAfter[2]).not.toEqual(weightsAfter[0]);
    expect(weightValues(model.module)).toEqual(weightsAfter[2]);
  });

  it("feeds the run's progress: every epoch and the stage's end log the run's position, the epoch and the ETAs", async () => {
    const lines: { fields: ProgressFields; message: string }[] = [];
    const run = startRunProgress([{ model: "tiny", seed: 1, plannedRows: 100 }], { draw: false, emit: (fields, message) => void lines.push({ fields, message }) });
    try {
      run.startUnit("tiny", 1);
      const model = new TinyModel(dataset.schema, { seed: 1 });
      await trainModel(model, dataset, { training: training({ max_epochs: 2, batch_size: 32, patience: 2 }), seed: 1, stage: "tiny:train", maxBatchesPerEpoch: 3 });
      model.module.dispose();
      run.finishUnit();
    } finally {
      run.stop();
    }
    expect(lines.map((l) => l.message.replace(/; ETA.*/, ""))).toEqual([
      "model 1 of 1 (tiny), seed 1 of 1, tiny:train epoch 1/2: epoch done",
      "model 1 of 1 (tiny), seed 1 of 1, tiny:train epoch 2/2: epoch done",
      "model 1 of 1 (tiny), seed 1 of 1, tiny:train epoch 2/2: stage done",
    ]);
    for (const { fields } of lines) {
      expect(fields).toMatchObject({ model: "tiny", modelIndex: 1, models: 1, seed: 1, seedIndex: 1, seeds: 1, stage: "tiny:train", epochs: 2, samples: 96, epochRows: 96 });
      expect(fields.samplesPerSecond).toBeGreaterThan(0);
      expect(fields.loss).toBeGreaterThan(0);
      expect(Object.keys(fields).sort()).toEqual(
        ["epoch", "epochRows", "epochs", "loss", "model", "modelIndex", "models", "runEtaSeconds", "samples", "samplesPerSecond", "seed", "seedIndex", "seeds", "stage", "stageEtaSeconds"].sort(),
      );
    }
    // Known once rows are measured (the arithmetic, on a clock of its own: test/train/progress.test.ts); none left at the end.
    expect(lines[0]!.fields.stageEtaSeconds).toBeGreaterThanOrEqual(0);
    expect(lines[0]!.fields.runEtaSeconds).toBeGreaterThanOrEqual(0);
    expect(lines[2]!.fields.stageEtaSeconds).toBe(0);
  });
});
