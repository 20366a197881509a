import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { ParamInit } from "../../../src/layers/params.ts";
import { FibinetModel, fibinetRecipe } from "../../../src/models/baselines/fibinet.ts";
import { disposeBatchTensors } from "../../../src/models/inputs.ts";
import { expectClose } from "../../layers/helpers.ts";
import { randomTensors, SMALL_SIZES, testSchema } from "../helpers.ts";
import { describeLearning, expectProbabilities, range, testSpec } from "./stage-context.ts";

const schema = testSchema();
const build = (): FibinetModel => new FibinetModel("fibinet", new ParamInit(1), { schema, sizes: SMALL_SIZES, senet_reduction: 3 });

describe("FibinetModel", () => {
  beforeAll(async () => {
    await tf.setBackend("cpu");
  });

  it("predicts a probability per row, every row read as a target row; trains on target rows", () => {
    expectProbabilities(build(), randomTensors(schema, { source: 3, target: 6 }), ["target"], ["bce_target"]);
  });

  it("has one E-wide field per feature and pooled sequence element; SENET weighs the fields differently", () => {
    const model = build();
    // 2 user + 2 sequences × (2 shared + item id) + 2 shared + 1 target-specific.
    expect(model.fieldCount).toBe(11);
    // Bilinear pairs of the original and of the reweighted fields: 2 · 11·10/2 pairs of E = 4.
    expect(model.namedVariables().get("fibinet/mlp/dense0/kernel")!.shape).toEqual([2 * 55 * 4, 16]);
    const batch = randomTensors(schema, { source: 0, target: 6 }, 5);
    tf.tidy(() => {
      const fields = model.fields(batch);
      expect(fields.shape).toEqual([6, 11, 4]);
      const { output, weights } = model.senetFields(batch);
      expect(weights.shape).toEqual([6, 11]);
      expectClose(output, tf.mul(fields, weights.expandDims(2)), 1e-7);
      const perField = tf.mean(weights, 0);
      const [low, high] = range(perField);
      expect(high - low).toBeGreaterThan(1e-4);
      expect(low).toBeGreaterThanOrEqual(0);
    });
    disposeBatchTensors(batch);
    model.dispose();
  });
});

describeLearning("FiBiNet", fibinetRecipe, testSpec({}, { max_epochs: 2, patience: 2 }), 0.56, "logistic regression 0.60–0.62; 2 epochs of FiBiNet 0.582–0.606 over seeds 1–3");
