import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PreparedDataset } from "../../src/data/reader.ts";
import { MlpModel } from "../../src/models/baselines/mlp.ts";
import { evaluateReference, itemPopRecipe, oracleRecipe, referenceRecipes } from "../../src/models/baselines/references.ts";
import { batchToTensors, disposeBatchTensors } from "../../src/models/inputs.ts";
import { ParamInit } from "../../src/layers/params.ts";
import { evaluateSplit } from "../../src/train/evaluate.ts";
import { UserError } from "../../src/util/errors.ts";
import { prepareFixture, readParquetRows, tempDir } from "../helpers/prepared.ts";
import { openTinyDataset } from "../train/helpers.ts";
import { SMALL_SIZES } from "./helpers.ts";

let dataset: PreparedDataset;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  setWasmPaths(`${dirname(createRequire(import.meta.url).resolve("@tensorflow/tfjs-backend-wasm"))}/`);
  expect(await tf.setBackend("wasm")).toBe(true);
  ({ dataset, cleanup } = await openTinyDataset());
});

afterAll(async () => cleanup?.());

const file = (split: "target/train" | "target/test") => join(dataset.dir, dataset.schema.splits[split]!.file);

describe("ItemPop (floor)", () => {
  it("scores each test row with its item's training CTR, or the overall training CTR (brute force)", async () => {
    const train = await readParquetRows(file("target/train"), "item_row, label");
    const test = await readParquetRows(file("target/test"), "item_row, label, user_key, user_clicks");
    const shown = new Map<number, number>();
    const clicked = new Map<number, number>();
    for (const r of train) {
      const item = Number(r.item_row);
      shown.set(item, (shown.get(item) ?? 0) + 1);
      clicked.set(item, (clicked.get(item) ?? 0) + Number(r.label));
    }
    const overall = train.reduce((s, r) => s + Number(r.label), 0) / train.length;
    const expected = test.map((r) => {
      const item = Number(r.item_row);
      return shown.has(item) ? clicked.get(item)! / shown.get(item)! : overall;
    });
    const rows = await itemPopRecipe.score(dataset);
    expect(Array.from(rows.scores)).toEqual(expected.map(Math.fround));
    // In the split's file order, the order every model's evaluation reads.
    expect(Array.from(rows.labels)).toEqual(test.map((r) => Number(r.label)));
    expect(Array.from(rows.userKey)).toEqual(test.map((r) => Number(r.user_key)));
    expect(Array.from(rows.userClicks)).toEqual(test.map((r) => Number(r.user_clicks)));
  });
});

describe("Oracle (ceiling)", () => {
  it("scores with the generator's p_true, and beats a trained MLP on AUC and GAUC", async () => {
    const test = await readParquetRows(file("target/test"), "p_true");
    const oracle = await evaluateReference(oracleRecipe, dataset);
    expect(Array.from(oracle.rows.scores)).toEqual(test.map((r) => Math.fround(Number(r.p_true))));

    const model = new MlpModel("mlp", new ParamInit(1), { schema: dataset.schema, sizes: SMALL_SIZES });
    const optimizer = tf.train.adam(5e-3);
    for (let epoch = 1; epoch <= 3; epoch++) {
      for await (const batch of dataset.batches({ split: "train", entities: ["target"], batchSize: 256, shuffle: { bufferRows: 8192, seed: epoch } })) {
        const tensors = batchToTensors(batch);
        tf.tidy(() => void optimizer.minimize(() => model.loss(tensors).total, false, model.trainableVariables()));
        disposeBatchTensors(tensors);
      }
    }
    optimizer.dispose();
    const mlp = await evaluateSplit(model, dataset, { split: "test", batchSize: 4096 });
    model.module.dispose();
    console.log(`target test: MLP AUC ${mlp.metrics.auc.toFixed(4)} GAUC ${mlp.metrics.gauc.toFixed(4)}; Oracle AUC ${oracle.metrics.auc.toFixed(4)} GAUC ${oracle.metrics.gauc.toFixed(4)}`);
    expect(mlp.metrics.auc).toBeGreaterThan(0.55); // it did learn something
    expect(oracle.metrics.auc).toBeGreaterThanOrEqual(mlp.metrics.auc);
    expect(oracle.metrics.gauc).toBeGreaterThanOrEqual(mlp.metrics.gauc);
    expect(oracle.metrics.samples).toBe(mlp.metrics.samples);
  });

  it("exists only where the data has true probabilities", async () => {
    expect(referenceRecipes(dataset.schema).map((r) => r.name)).toEqual(["itempop", "oracle"]);
    const { trueProbability: _, ...real } = dataset.schema;
    expect(referenceRecipes(real).map((r) => r.name)).toEqual(["itempop"]);
    const withoutTruth = { dir: "/data/real", schema: real } as unknown as PreparedDataset;
    await expect(oracleRecipe.score(withoutTruth)).rejects.toThrow(UserError);
  });
});

describe("true probability passthrough in prepare", () => {
  const spec = (extra = "") => `
name: truth
raw_dir: raw
tables:
  src: { path: source.csv }
  tgt: { path: target.csv }
entities:
  source:
    name: product
    table: src
    time_column: ts
    label: { column: click }
  target:
    name: content
    table: tgt
    time_column: ts
    label: { column: click }
    true_probability_column: p
${extra}
split: { by: time, slice_seconds: 100 }
`;
  /** Users u1–u4, one row per slice 0–4 in each entity; target p = a distinct value per row. */
  const files = (badP?: string) => {
    const source = ["user_id,item_id,ts,click"];
    const target = ["user_id,item_id,ts,click,p"];
    for (let u = 1; u <= 4; u++) {
      for (let slice = 0; slice < 5; slice++) {
        source.push(`u${u},s${slice},${slice * 100 + u},${(u + slice) % 2}`);
        // In the test slice (4), u4 sees t_new, an item never shown in training.
        const item = u === 4 && slice === 4 ? "t_new" : `t${(u + slice) % 3}`;
        target.push(`u${u},${item},${slice * 100 + u + 5},${(u + slice) % 2},${badP && u === 3 && slice === 2 ? badP : (u * 10 + slice) / 100}`);
      }
    }
    return { "spec.yaml": spec(), "raw/source.csv": source.join("\n") + "\n", "raw/target.csv": target.join("\n") + "\n" };
  };

  it("carries each target row's value into the split files as p_true (source rows without one: NULL)", async () => {
    const result = await prepareFixture(await tempDir(), files());
    expect(result.schema.trueProbability).toEqual({ column: "p_true", entities: ["target"] });
    for (const split of ["target/train", "target/valid", "target/test"] as const) {
      const rows = await readParquetRows(join(result.dir, result.schema.splits[split]!.file), "user_key, t, p_true");
      for (const r of rows) {
        // t = slice·100 + u + 5, p = (u·10 + slice) / 100.
        const t = Number(r.t);
        const u = (t % 100) - 5;
        expect(Number(r.p_true)).toBe((u * 10 + Math.floor(t / 100)) / 100);
      }
      expect(rows.length).toBeGreaterThan(0);
    }
    const source = await readParquetRows(join(result.dir, result.schema.splits["source/train"]!.file), "p_true");
    expect(source.every((r) => r.p_true === null)).toBe(true);
    // ItemPop on this log: training slices 0–2; t_new falls back to the overall training CTR.
    const prepared = await PreparedDataset.open(result.dir);
    try {
      const rows = await itemPopRecipe.score(prepared);
      const train = await readParquetRows(join(result.dir, result.schema.splits["target/train"]!.file), "label");
      const overall = train.reduce((s, r) => s + Number(r.label), 0) / train.length;
      // An item never shown in training is out of the training vocabulary: id 1.
      const test = await readParquetRows(join(result.dir, result.schema.splits["target/test"]!.file), "target__item_id");
      const unseen = test.flatMap((r, i) => (Number(r.target__item_id) === 1 ? [i] : []));
      expect(unseen).toHaveLength(1);
      expect(rows.scores[unseen[0]!]).toBe(Math.fround(overall));
      expect(test.filter((_, i) => rows.scores[i] !== Math.fround(overall)).length).toBeGreaterThan(0);
    } finally {
      prepared.close();
    }
  });

  it("rejects a value outside [0, 1] with file, line and column", async () => {
    const error = await prepareFixture(await tempDir(), files("1.5")).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UserError);
    // u3 slice 2: the 2 × 5 + 3rd data row, line 14 with the header.
    expect((error as UserError).message).toMatch(/^\/\S*\/raw\/target\.csv: line 14, column p: true probability is not a number in \[0, 1\]$/);
  });

  it("rejects a true probability column on a log with sampled negatives", async () => {
    const f = files();
    f["spec.yaml"] = f["spec.yaml"].replace("    label: { column: click }\n    true_probability_column: p", "    true_probability_column: p\n    negatives: { per_positive: 1 }");
    const error = await prepareFixture(await tempDir(), f).catch((e: unknown) => e);
    expect((error as UserError).message).toBe("spec.yaml:17: entities.target.true_probability_column: not with negatives (sampled negatives have no true probability)");
  });
});
