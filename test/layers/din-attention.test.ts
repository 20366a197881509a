import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { DinAttention } from "../../src/layers/din-attention.ts";
import { ParamInit } from "../../src/layers/params.ts";
import { expectClose } from "./helpers.ts";

const d = 4;
let keys: tf.Tensor;
let mask: tf.Tensor;

beforeAll(async () => {
  await tf.setBackend("cpu");
  keys = tf.randomNormal([2, 3, d], 0, 1, "float32", 1);
  mask = tf.tensor2d([[1, 1, 0], [1, 0, 0]]);
});

describe("DinAttention", () => {
  const att = (): DinAttention => new DinAttention("din", new ParamInit(11), { dim: d });

  it("returns [B, d] (or [B, dv] for separate values) and [B, L] weights", () => {
    const a = att();
    const q = tf.randomNormal([2, d], 0, 1, "float32", 2);
    const { output, weights } = a.apply(q, keys, mask);
    expect(output.shape).toEqual([2, d]);
    expect(weights.shape).toEqual([2, 3]);
    const values = tf.randomNormal([2, 3, 6], 0, 1, "float32", 3);
    const withValues = a.apply(q, keys, mask, values);
    expect(withValues.output.shape).toEqual([2, 6]);
    // Unnormalised weighted sum: Σ_l w_l v_l.
    expectClose(withValues.output, tf.sum(tf.mul(withValues.weights.expandDims(2), values), 1));
    expect(a.variables().map((v) => v.shape)).toEqual([[4 * d, 36], [36], [36, 1], [1]]);
  });

  it("weights depend on the candidate", () => {
    const a = att();
    const w1 = a.apply(tf.randomNormal([2, d], 0, 1, "float32", 4), keys, mask).weights;
    const w2 = a.apply(tf.randomNormal([2, d], 0, 1, "float32", 5), keys, mask).weights;
    const diff = tf.max(tf.abs(tf.sub(w1, w2))).dataSync()[0]!;
    expect(diff).toBeGreaterThan(1e-4);
  });

  it("padding positions weigh exactly 0 and contribute nothing", () => {
    const a = att();
    const q = tf.randomNormal([2, d], 0, 1, "float32", 6);
    const first = a.apply(q, keys, mask);
    // Overwrite every padded key with large junk.
    const junk = tf.mul(tf.randomNormal([2, 3, d], 0, 1, "float32", 7), 100);
    const junkKeys = tf.where(tf.cast(mask.expandDims(2).tile([1, 1, d]), "bool"), keys, junk);
    const second = a.apply(q, junkKeys, mask);
    expectClose(first.weights, tf.mul(first.weights, mask), 0);
    expect(Array.from(first.weights.dataSync()).filter((w) => w !== 0)).toHaveLength(3);
    expectClose(second.output, first.output, 0);
    expectClose(second.weights, first.weights, 0);
  });

  it("equals the activation unit applied to the concatenation [q, k, q−k, q⊙k]", () => {
    const a = new DinAttention("din", new ParamInit(12), { dim: d, hidden: [5, 3] });
    const q = tf.randomNormal([2, d], 0, 1, "float32", 8);
    const qTiled = tf.tile(q.expandDims(1), [1, 3, 1]);
    const concatenated = tf.concat([qTiled, keys, tf.sub(qTiled, keys), tf.mul(qTiled, keys)], -1);
    const [w0, b0, w1, b1, ws, bs] = a.variables();
    b0!.assign(tf.randomNormal([5], 0, 1, "float32", 9)); // non-zero biases, so their place is checked too
    b1!.assign(tf.randomNormal([3], 0, 1, "float32", 10));
    const h = tf.relu(tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(concatenated.reshape([-1, 4 * d]), w0!), b0!)), w1!), b1!));
    const expected = tf.mul(tf.add(tf.matMul(h, ws!), bs!).reshape([2, 3]), mask);
    expectClose(a.apply(q, keys, mask).weights, expected, 1e-5);
  });

  it("with Dice: the concatenated form with Dice on the hidden layer, batch statistics over real elements only; needs the mode", () => {
    const a = new DinAttention("din", new ParamInit(13), { dim: d, hidden: [5], activation: "dice" });
    const q = tf.randomNormal([2, d], 0, 1, "float32", 14);
    expect(() => a.apply(q, keys, mask)).toThrow(/forward mode/);
    const [w0, b0, , , , ws, bs] = a.variables();
    expect([...a.namedVariables().keys()]).toEqual([
      "din/mlp/dense0/kernel",
      "din/mlp/dense0/bias",
      "din/mlp/dice0/alpha",
      "din/mlp/dice0/moments/moving_mean",
      "din/mlp/dice0/moments/moving_variance",
      "din/score/kernel",
      "din/score/bias",
    ]);
    const qTiled = tf.tile(q.expandDims(1), [1, 3, 1]);
    const pre = tf.add(tf.matMul(tf.concat([qTiled, keys, tf.sub(qTiled, keys), tf.mul(qTiled, keys)], -1).reshape([-1, 4 * d]), w0!), b0!);
    // Dice with the moments of the 3 real positions (rows 0, 1 and 3 of the 6), α = 0 at the start.
    const real = tf.gather(pre, [0, 1, 3]);
    const { mean, variance } = tf.moments(real, 0);
    const p = tf.sigmoid(tf.div(tf.sub(pre, mean), tf.sqrt(tf.add(variance, 1e-8))));
    const expected = tf.mul(tf.add(tf.matMul(tf.mul(p, pre), ws!), bs!).reshape([2, 3]), mask);
    expectClose(a.apply(q, keys, mask, keys, "train").weights, expected, 1e-5);
    // Junk in the padded keys changes nothing, in training either.
    const junk = tf.mul(tf.randomNormal([2, 3, d], 0, 1, "float32", 15), 100);
    const junkKeys = tf.where(tf.cast(mask.expandDims(2).tile([1, 1, d]), "bool"), keys, junk);
    expectClose(a.apply(q, junkKeys, mask, keys, "train").weights, expected, 1e-5);
  });
});
