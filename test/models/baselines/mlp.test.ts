import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { TARGET } from "../../../src/data/batch.ts";
import { ParamInit } from "../../../src/layers/params.ts";
import { MlpModel, mlpRecipe } from "../../../src/models/baselines/mlp.ts";
import { batchToTensors, disposeBatchTensors } from "../../../src/models/inputs.ts";
import { randomBatch, randomTensors, SMALL_SIZES, testSchema } from "../helpers.ts";
import { withOtherIds } from "./batches.ts";
import { describeLearning, expectProbabilities, testSpec } from "./stage-context.ts";

const schema = testSchema();
const build = (): MlpModel => new MlpModel("mlp", new ParamInit(1), { schema, sizes: SMALL_SIZES });

describe("MlpModel", () => {
  beforeAll(async () => {
    await tf.setBackend("cpu");
  });

  it("predicts a probability per row, every row read as a target row; trains on target rows", () => {
    expectProbabilities(build(), randomTensors(schema, { source: 3, target: 6 }), ["target"], ["bce_target"]);
  });

  it("reads the target-specific features and both mean-pooled sequences, not the source-specific features", () => {
    const model = build();
    const base = randomBatch(schema, { source: 0, target: 8 }, 3);
    const predict = (columns: string[]): Float32Array => {
      const batch = batchToTensors(columns.length === 0 ? base : withOtherIds(base, schema, columns, (i) => base.entity[i] === TARGET));
      const p = tf.tidy(() => model.predictTarget(batch).dataSync() as Float32Array);
      disposeBatchTensors(batch);
      return p;
    };
    const reference = predict([]);
    expect(predict(schema.entities.source.specificColumns)).toEqual(reference);
    expect(predict(["target__item_id"])).not.toEqual(reference);
    expect(predict(["seq_source.item_id"])).not.toEqual(reference);
    expect(predict(["seq_target.item_id"])).not.toEqual(reference);
    model.dispose();
  });
});

describeLearning("MLP", mlpRecipe, testSpec({}, { max_epochs: 3, patience: 3 }), 0.57, "logistic regression 0.60–0.62; 3 epochs of MLP 0.603–0.614 over seeds 1–3");
