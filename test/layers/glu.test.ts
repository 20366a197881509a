import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { Glu } from "../../src/layers/glu.ts";
import { ParamInit } from "../../src/layers/params.ts";
import { expectClose, setParam } from "./helpers.ts";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("Glu", () => {
  it("computes (W_a x + b_a) ⊙ sigmoid(W_b x + b_b)", () => {
    const glu = new Glu("glu", new ParamInit(1), { inputSize: 2, outputSize: 3 });
    const wa = [[1, 0, -1], [2, 1, 0]];
    const ba = [0, 1, 0.5];
    const wb = [[0, 1, 1], [-1, 0, 2]];
    const bb = [0.5, 0, -1];
    setParam(glu, "glu/value/kernel", wa);
    setParam(glu, "glu/value/bias", ba);
    setParam(glu, "glu/gate/kernel", wb);
    setParam(glu, "glu/gate/bias", bb);
    const x = [[1, -1], [0.5, 2]];
    const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));
    const expected = x.flatMap((row) =>
      [0, 1, 2].map((j) => {
        const a = row.reduce((s, xi, i) => s + xi * wa[i]![j]!, ba[j]!);
        const b = row.reduce((s, xi, i) => s + xi * wb[i]![j]!, bb[j]!);
        return a * sigmoid(b);
      }),
    );
    expectClose(glu.apply(tf.tensor2d(x)), expected);
  });

  it("resizes to the requested output", () => {
    const glu = new Glu("g", new ParamInit(1), { inputSize: 5, outputSize: 2 });
    expect(glu.apply(tf.ones([4, 5])).shape).toEqual([4, 2]);
  });
});
