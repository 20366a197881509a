import { readFile } from "node:fs/promises";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TARGET, type Batch } from "../../src/data/batch.ts";
import type { PreparedDataset } from "../../src/data/reader.ts";
import { auc, gauc, groupLabels, logloss } from "../../src/metrics/index.ts";
import type { BatchTensors } from "../../src/models/inputs.ts";
import { evaluateSplit, PREDICTIONS_HEADER, writePredictions } from "../../src/train/evaluate.ts";
import { predictBatch } from "../../src/models/batch-loop.ts";
import { openTinyDataset, TinyModel } from "./helpers.ts";

let dataset: PreparedDataset;
let outRoot: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  await tf.setBackend("cpu");
  ({ dataset, outRoot, cleanup } = await openTinyDataset());
});

afterAll(async () => {
  await cleanup();
});

/** Reads a predictions CSV back into columns. */
async function readPredictions(file: string) {
  const [header, ...lines] = (await readFile(file, "utf8")).trimEnd().split("\n");
  expect(header).toBe(PREDICTIONS_HEADER);
  const cells = lines.map((line) => line.split(","));
  return {
    userKey: Int32Array.from(cells, (c) => Number(c[0])),
    labels: Float32Array.from(cells, (c) => Number(c[1])),
    scores: Float32Array.from(cells, (c) => Number(c[2])),
    groups: cells.map((c) => c[3]!),
  };
}

describe("evaluation", () => {
  it("writes one prediction row per target test row, from which the metrics recompute exactly", async () => {
    const model = new TinyModel(dataset.schema, { seed: 1 });
    const { metrics, rows, samplesPerSecond } = await evaluateSplit(model, dataset, { split: "test", batchSize: 300 });
    const n = dataset.rowCount({ split: "test", entities: ["target"] });
    expect(metrics.samples).toBe(n);
    expect(metrics.thresholds).toEqual(dataset.schema.userGroups);
    expect(samplesPerSecond).toBeGreaterThan(0);

    const file = join(outRoot, "eval", "predictions.csv");
    await writePredictions(file, rows, dataset.schema.userGroups);
    const csv = await readPredictions(file);
    expect(csv.scores.length).toBe(n);
    expect(csv.scores).toEqual(rows.scores);
    expect(auc(csv.scores, csv.labels)).toBe(metrics.auc);
    expect(gauc(csv.scores, csv.labels, csv.userKey).gauc).toBe(metrics.gauc);
    expect(logloss(csv.scores, csv.labels)).toBe(metrics.logloss);

    const labels = groupLabels(dataset.schema.userGroups);
    expect(new Set(csv.groups)).toEqual(new Set(labels));
    for (const group of metrics.groups) {
      const keep = csv.groups.map((g) => g === group.group);
      const pick = <T extends Float32Array | Int32Array>(values: T) => values.filter((_, i) => keep[i]) as T;
      const scores = pick(csv.scores);
      expect(scores.length).toBe(group.samples);
      expect(auc(scores, pick(csv.labels))).toBe(group.auc);
      expect(gauc(scores, pick(csv.labels), pick(csv.userKey)).gauc).toBe(group.gauc);
    }
  });

  it("puts each score on its own row of a mixed batch (tensor rows are reordered source-first)", async () => {
    const model = new TinyModel(dataset.schema, { seed: 2 });
    let batch: Batch | undefined;
    for await (const b of dataset.batches({ split: "train", entities: ["source", "target"], batchSize: 200, shuffle: { bufferRows: 4096, seed: 1 } })) {
      batch = b;
      break;
    }
    if (!batch) throw new Error("no training batch");
    // A target row before a source row: the source-first reordering is not the identity.
    const firstTarget = batch.entity.indexOf(TARGET);
    expect(firstTarget).toBeGreaterThanOrEqual(0);
    expect(batch.entity.subarray(firstTarget).some((e) => e !== TARGET)).toBe(true);

    const scores = await predictBatch(model, batch);
    // Reference: the same model on tensors kept in batch order (the tiny model reads only features).
    const inBatchOrder = tf.tidy(() => {
      const features = Object.fromEntries(Object.entries(batch.features).map(([c, ids]) => [c, tf.tensor1d(ids, "int32")]));
      return model.predictTarget({ size: batch.size, features } as unknown as BatchTensors);
    });
    expect(Array.from(scores)).toEqual(Array.from(inBatchOrder.dataSync()));
    inBatchOrder.dispose();
  });
});
