import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { ParamInit } from "../../src/layers/params.ts";
import { Hfa } from "../../src/models/mkt/hfa.ts";
import { expectClose } from "../layers/helpers.ts";

const E = 4;

beforeAll(async () => {
  await tf.setBackend("cpu");
});

/** ReLU(flatten(x) W + b) with HFA's align layer. */
function alignByHand(hfa: Hfa, x: tf.Tensor3D): tf.Tensor {
  const named = hfa.namedVariables();
  const flat = x.reshape([x.shape[0], -1]);
  return tf.relu(tf.add(tf.matMul(flat, named.get("h/align/kernel")! as tf.Tensor2D), named.get("h/align/bias")!));
}

describe("Hfa", () => {
  it("aligns 4 and 1 specific features to the same width, with one importance per feature in (0, 2)", () => {
    const init = new ParamInit(2);
    const source = new Hfa("hs", init, { fields: 4, dim: E, outputSize: 8 });
    const target = new Hfa("ht", init, { fields: 1, dim: E, outputSize: 8 });
    const s = source.apply(tf.randomNormal([6, 4, E], 0, 1, "float32", 1) as tf.Tensor3D);
    const t = target.apply(tf.randomNormal([3, 1, E], 0, 1, "float32", 2) as tf.Tensor3D);
    expect(s.aligned.shape).toEqual([6, 8]);
    expect(t.aligned.shape).toEqual([3, 8]);
    expect(s.importance!.shape).toEqual([6, 4]);
    expect(t.importance!.shape).toEqual([3, 1]);
    for (const p of [s.importance!, t.importance!]) {
      expect(tf.min(p).dataSync()[0]).toBeGreaterThan(0);
      expect(tf.max(p).dataSync()[0]).toBeLessThan(2);
    }
  });

  it("scales each feature's embedding row by its importance before the aligning FC", () => {
    const hfa = new Hfa("h", new ParamInit(3), { fields: 3, dim: E, outputSize: 5 });
    const x = tf.randomNormal([4, 3, E], 0, 1, "float32", 3) as tf.Tensor3D;
    const { aligned, importance } = hfa.apply(x);
    const p = importance!;
    // Importance is not trivially 1: the rows are really reweighted.
    expect(tf.max(tf.abs(tf.sub(p, 1))).dataSync()[0]).toBeGreaterThan(1e-3);
    expectClose(aligned, alignByHand(hfa, tf.mul(x, p.expandDims(2)) as tf.Tensor3D), 1e-5);
    expect([...hfa.namedVariables().keys()]).toEqual([
      "h/cross/w0",
      "h/cross/b0",
      "h/cross/w1",
      "h/cross/b1",
      "h/implicit/kernel",
      "h/implicit/bias",
      "h/importance/kernel",
      "h/importance/bias",
      "h/align/kernel",
      "h/align/bias",
    ]);
  });

  it("disabled (w/o HFA): ReLU(FC(flatten(v_spec))) with no cross or importance weights", () => {
    const hfa = new Hfa("h", new ParamInit(3), { fields: 3, dim: E, outputSize: 5, enabled: false });
    expect([...hfa.namedVariables().keys()]).toEqual(["h/align/kernel", "h/align/bias"]);
    const x = tf.randomNormal([4, 3, E], 0, 1, "float32", 4) as tf.Tensor3D;
    const out = hfa.apply(x);
    expect(out.importance).toBeUndefined();
    expectClose(out.aligned, alignByHand(hfa, x), 1e-6);
  });

  it("follows sizes.hfa_cross_layers", () => {
    const hfa = new Hfa("h", new ParamInit(3), { fields: 2, dim: E, outputSize: 5, crossLayers: 3 });
    expect([...hfa.namedVariables().keys()].filter((n) => n.startsWith("h/cross/w"))).toEqual(["h/cross/w0", "h/cross/w1", "h/cross/w2"]);
  });
});
