import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { ParamInit } from "../../src/layers/params.ts";
import { Senet } from "../../src/layers/senet.ts";
import { expectClose, setParam } from "./helpers.ts";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("Senet", () => {
  it("reweights each field by its own weight; weights differ across fields", () => {
    const senet = new Senet("se", new ParamInit(2), { fields: 7 });
    // Reduction ratio 3: 7 fields → 2 units, bias-free.
    expect(senet.variables().map((v) => v.shape)).toEqual([[7, 2], [2, 7]]);
    const fields = tf.randomNormal([4, 7, 3], 1, 1, "float32", 3);
    const { output, weights } = senet.apply(fields);
    expect(output.shape).toEqual([4, 7, 3]);
    expect(weights.shape).toEqual([4, 7]);
    expectClose(output, tf.mul(fields, weights.expandDims(2)));
    const spread = tf.sub(tf.max(weights, 1), tf.min(weights, 1)).dataSync();
    for (const s of spread) expect(s).toBeGreaterThan(1e-4);
  });

  it("squeezes by the mean over E and excites with ReLU twice", () => {
    const senet = new Senet("se3", new ParamInit(2), { fields: 3 });
    setParam(senet, "se3/reduce/kernel", [[1], [-1], [2]]);
    setParam(senet, "se3/expand/kernel", [[1, -1, 0.5]]);
    // Means z = [2, 1, 0.5] → relu(2 − 1 + 1) = 2 → relu([2, −2, 1]) = [2, 0, 1].
    const { output, weights } = senet.apply(tf.tensor3d([[[1, 3], [0, 2], [0.5, 0.5]]]));
    expectClose(weights, [2, 0, 1]);
    expectClose(output, [2, 6, 0, 0, 0.5, 0.5]);
  });
});
