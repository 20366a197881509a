import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { Dense } from "../../src/layers/dense.ts";
import { Mlp } from "../../src/layers/mlp.ts";
import { ParamInit } from "../../src/layers/params.ts";
import { Tower } from "../../src/layers/tower.ts";
import { expectClose, setParam } from "./helpers.ts";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("Dense", () => {
  const x = [[1, -2], [0.5, 3]];
  const make = (activation: "relu" | "sigmoid" | "none"): Dense => {
    const d = new Dense("d", new ParamInit(1), { inputSize: 2, units: 2, activation });
    setParam(d, "d/kernel", [[1, 2], [3, -1]]);
    setParam(d, "d/bias", [0.5, -0.5]);
    return d;
  };
  // x W + b by hand: row 0 → [1−6+0.5, 2+2−0.5] = [−4.5, 3.5]; row 1 → [0.5+9+0.5, 1−3−0.5] = [10, −2.5].
  const linear = [-4.5, 3.5, 10, -2.5];

  it("computes x W + b with each activation", () => {
    expectClose(make("none").apply(tf.tensor2d(x)), linear);
    expectClose(make("relu").apply(tf.tensor2d(x)), linear.map((v) => Math.max(0, v)));
    expectClose(make("sigmoid").apply(tf.tensor2d(x)), linear.map((v) => 1 / (1 + Math.exp(-v))));
  });

  it("maps the last axis of higher-rank inputs", () => {
    const out = make("none").apply(tf.tensor3d([x, x]));
    expect(out.shape).toEqual([2, 2, 2]);
    expectClose(out, [...linear, ...linear]);
  });

  it("can omit the bias", () => {
    const d = new Dense("nb", new ParamInit(1), { inputSize: 3, units: 2, bias: false });
    expect([...d.namedVariables().keys()]).toEqual(["nb/kernel"]);
    expectClose(d.apply(tf.zeros([1, 3])), [0, 0], 0);
  });
});

describe("Mlp", () => {
  it("chains Dense+ReLU layers, ReLU on the last one too", () => {
    const m = new Mlp("m", new ParamInit(2), { inputSize: 2, sizes: [2, 1] });
    expect(m.outputSize).toBe(1);
    setParam(m, "m/dense0/kernel", [[1, 0], [0, -1]]);
    setParam(m, "m/dense1/kernel", [[1], [-1]]);
    setParam(m, "m/dense1/bias", [-1]);
    // Row [2, -3]: h = relu([2, 3]) = [2, 3]; out = relu(2 − 3 − 1) = 0. Row [2, 1]: h = [2, 0]; out = 1.
    expectClose(m.apply(tf.tensor2d([[2, -3], [2, 1]])), [0, 1]);
  });
});

describe("Tower", () => {
  it("gives one unbounded logit per row, shape [B]", () => {
    const t = new Tower("t", new ParamInit(3), { inputSize: 2, hidden: [2] });
    setParam(t, "t/hidden/dense0/kernel", [[1, 0], [0, 1]]);
    setParam(t, "t/logit/kernel", [[-2], [1]]);
    setParam(t, "t/logit/bias", [0.5]);
    // Row [1, -1]: h = [1, 0] → −2 + 0.5. Row [-1, 4]: h = [0, 4] → 4 + 0.5.
    const logits = t.apply(tf.tensor2d([[1, -1], [-1, 4]]));
    expect(logits.shape).toEqual([2]);
    expectClose(logits, [-1.5, 4.5]);
  });

  it("defaults to the SPEC's [64, 1]", () => {
    const t = new Tower("t64", new ParamInit(3), { inputSize: 5 });
    expect(t.variables().map((v) => v.shape)).toEqual([[5, 64], [64], [64, 1], [1]]);
  });
});
