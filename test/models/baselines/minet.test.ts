import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { ParamInit } from "../../../src/layers/params.ts";
import { MinetModel, minetRecipe } from "../../../src/models/baselines/minet.ts";
import { batchToTensors, disposeBatchTensors } from "../../../src/models/inputs.ts";
import { expectClose } from "../../layers/helpers.ts";
import { randomBatch, randomTensors, SMALL_SIZES, testSchema } from "../helpers.ts";
import { describeLearning, expectProbabilities, range, testSpec } from "./stage-context.ts";

const schema = testSchema();
const build = (): MinetModel => new MinetModel("minet", new ParamInit(1), { schema, sizes: SMALL_SIZES });

describe("MinetModel", () => {
  beforeAll(async () => {
    await tf.setBackend("cpu");
  });

  it("predicts a probability per row of a mixed batch; the loss has a part per entity", () => {
    expectProbabilities(build(), randomTensors(schema, { source: 5, target: 4 }), ["source", "target"], ["bce_source", "bce_target"]);
  });

  it("weights the long-term and the two short-term interests by softmax weights summing to 1", () => {
    const model = build();
    const batch = randomTensors(schema, { source: 6, target: 6 }, 4);
    tf.tidy(() => {
      const { weights } = model.interests(batch, "all");
      expect(weights.shape).toEqual([12, 3]);
      const [low, high] = range(weights);
      expect(low).toBeGreaterThan(0);
      expect(high).toBeLessThan(1);
      expectClose(tf.sum(weights, 1), tf.ones([12]), 1e-6);
    });
    disposeBatchTensors(batch);
    model.dispose();
  });

  it("item-level attention ignores padding: ids past a sequence's length do not change predictions", () => {
    const model = build();
    const clean = randomBatch(schema, { source: 4, target: 4 }, 5);
    expect(Object.values(clean.sequences).some((seq) => seq.length.some((n) => n < seq.maxlen))).toBe(true);
    const noisy = structuredClone(clean);
    for (const seq of Object.values(noisy.sequences)) {
      for (const ids of Object.values(seq.ids)) {
        for (let i = 0; i < noisy.size; i++) ids.fill(1, i * seq.maxlen + seq.length[i]!, (i + 1) * seq.maxlen);
      }
    }
    const [a, b] = [batchToTensors(clean), batchToTensors(noisy)];
    tf.tidy(() => expectClose(model.predictTarget(b), model.predictTarget(a), 0));
    disposeBatchTensors(a);
    disposeBatchTensors(b);
    model.dispose();
  });
});

describeLearning("MiNet", minetRecipe, testSpec(), 0.56, "logistic regression 0.60–0.62; MiNet 0.59–0.62 over seeds 1–3");
