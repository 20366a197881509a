import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { Dice } from "../../src/layers/dice.ts";
import { Mlp } from "../../src/layers/mlp.ts";
import { ParamInit } from "../../src/layers/params.ts";
import { expectClose, setParam } from "./helpers.ts";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

/** Rows of x [n, c] and, per channel, the moments the DIN paper's Dice uses, in float64. */
interface Reference {
  rows: number[][];
  mean: number[];
  variance: number[];
}

/** Batch moments per channel (biased variance) over the rows whose weight is 1, in float64. */
function batchMoments(rows: number[][], weights: number[] = rows.map(() => 1)): Reference {
  const channels = rows[0]!.length;
  const count = weights.reduce((a, b) => a + b, 0);
  const mean = Array.from({ length: channels }, (_, c) => rows.reduce((s, r, i) => s + weights[i]! * r[c]!, 0) / count);
  const variance = Array.from({ length: channels }, (_, c) => rows.reduce((s, r, i) => s + weights[i]! * (r[c]! - mean[c]!) ** 2, 0) / count);
  return { rows, mean, variance };
}

/** Dice by its definition: f(s) = p·s + (1 − p)·α·s, p = sigmoid((s − E[s]) / sqrt(Var[s] + ε)), in float64. */
function diceByDefinition({ rows, mean, variance }: Reference, alpha: number[], epsilon = 1e-8): number[][] {
  return rows.map((r) =>
    r.map((s, c) => {
      const p = 1 / (1 + Math.exp(-(s - mean[c]!) / Math.sqrt(variance[c]! + epsilon)));
      return p * s + (1 - p) * alpha[c]! * s;
    }),
  );
}

const X = [
  [0.5, -1.2, 2.0],
  [1.5, 0.3, -0.7],
  [-0.8, 0.9, 0.1],
  [2.2, -0.4, 1.3],
];
const ALPHA = [0.25, -0.1, 0.6];

function dice(): Dice {
  const layer = new Dice("dice", new ParamInit(1), { size: 3 });
  setParam(layer, "dice/alpha", ALPHA);
  return layer;
}

describe("Dice", () => {
  it("in training equals its definition with the batch's mean and variance per channel", () => {
    const layer = dice();
    const y = layer.apply(tf.tensor2d(X), { mode: "train" });
    expectClose(y, diceByDefinition(batchMoments(X), ALPHA).flat(), 1e-5);
  });

  it("counts only the positions the mask marks real in the batch statistics; padding changes nothing at real positions", () => {
    // [2 rows, 3 positions, 3 channels]; position (0, 2) and (1, 1), (1, 2) are padding.
    const mask = [
      [1, 1, 0],
      [1, 0, 0],
    ];
    const padded = [X[0]!, X[1]!, [9, 9, 9], X[2]!, [-7, 5, 3], [100, -100, 0]];
    const weights = mask.flat();
    const out = dice().apply(tf.tensor3d(padded.flat(), [2, 3, 3]), { mode: "train", mask: tf.tensor2d(mask) }).arraySync() as number[][][];
    const expected = diceByDefinition(batchMoments(padded, weights), ALPHA);
    const real = weights.flatMap((w, i) => (w === 1 ? [i] : []));
    for (const i of real) out[Math.floor(i / 3)]![i % 3]!.forEach((v, c) => expect(Math.abs(v - expected[i]![c]!)).toBeLessThan(1e-5));
    // Other padding values: the same outputs at the real positions.
    const otherPadding = padded.map((r, i) => (weights[i] === 1 ? r : r.map((v) => -3 * v + 1)));
    const again = dice().apply(tf.tensor3d(otherPadding.flat(), [2, 3, 3]), { mode: "train", mask: tf.tensor2d(mask) }).arraySync() as number[][][];
    for (const i of real) expect(again[Math.floor(i / 3)]![i % 3]).toEqual(out[Math.floor(i / 3)]![i % 3]);
  });

  it("moves its moving averages toward each training batch's moments (momentum 0.9), and predicts with them", () => {
    const layer = dice();
    const second = X.map((r) => r.map((v) => 2 * v - 1));
    let mean = [0, 0, 0];
    let variance = [1, 1, 1];
    for (const batch of [X, second]) {
      layer.apply(tf.tensor2d(batch), { mode: "train" });
      const m = batchMoments(batch);
      mean = mean.map((v, c) => 0.9 * v + 0.1 * m.mean[c]!);
      variance = variance.map((v, c) => 0.9 * v + 0.1 * m.variance[c]!);
    }
    expectClose(layer.moments.mean, mean, 1e-6);
    expectClose(layer.moments.variance, variance, 1e-6);
    // Prediction: the moving averages, and they stay where they are.
    const y = layer.apply(tf.tensor2d(X), { mode: "predict" });
    expectClose(y, diceByDefinition({ rows: X, mean, variance }, ALPHA).flat(), 1e-5);
    expectClose(layer.moments.mean, mean, 1e-6);
  });

  it("at prediction a row's output does not depend on the rest of its batch; in training it does", () => {
    const layer = dice();
    layer.apply(tf.tensor2d(X), { mode: "train" }); // moving averages away from their start
    const alone = layer.apply(tf.tensor2d([X[0]!]), { mode: "predict" }).arraySync() as number[][];
    const inBatch = layer.apply(tf.tensor2d([X[0]!, [50, -50, 50], X[3]!]), { mode: "predict" }).arraySync() as number[][];
    expect(inBatch[0]).toEqual(alone[0]);
    const trainA = layer.apply(tf.tensor2d([X[0]!, X[1]!]), { mode: "train" }).arraySync() as number[][];
    const trainB = layer.apply(tf.tensor2d([X[0]!, X[2]!]), { mode: "train" }).arraySync() as number[][];
    expect(trainA[0]).not.toEqual(trainB[0]);
  });

  it("learns α; its moving averages are state: saved with the weights, never trainable", () => {
    const layer = dice();
    expect([...layer.namedVariables().keys()]).toEqual(["dice/alpha", "dice/moments/moving_mean", "dice/moments/moving_variance"]);
    layer.setTrainable(true);
    expect(layer.trainableVariables()).toEqual([layer.alpha]);
    expect(layer.stateVariables()).toEqual([layer.moments.mean, layer.moments.variance]);
    const x = tf.tensor2d(X);
    // d/dα Σ f(s) = Σ (1 − p)·s per channel: non-zero for this batch.
    const { value, grads } = tf.variableGrads(() => tf.sum(layer.apply(x, { mode: "train" })) as tf.Scalar, layer.trainableVariables());
    expect(Object.keys(grads)).toEqual([layer.alpha.name]);
    const ref = batchMoments(X);
    const expected = [0, 1, 2].map((c) =>
      X.reduce((s, r) => s + (1 - 1 / (1 + Math.exp(-(r[c]! - ref.mean[c]!) / Math.sqrt(ref.variance[c]! + 1e-8)))) * r[c]!, 0),
    );
    expectClose(grads[layer.alpha.name]!, expected, 1e-5);
    tf.dispose([value, grads]);
  });

  it("an MLP with Dice has a linear Dense and a Dice per layer, and needs the forward mode", () => {
    const mlp = new Mlp("m", new ParamInit(2), { inputSize: 3, sizes: [4, 2], activation: "dice" });
    expect([...mlp.namedVariables().keys()]).toEqual([
      "m/dense0/kernel",
      "m/dense0/bias",
      "m/dense1/kernel",
      "m/dense1/bias",
      "m/dice0/alpha",
      "m/dice0/moments/moving_mean",
      "m/dice0/moments/moving_variance",
      "m/dice1/alpha",
      "m/dice1/moments/moving_mean",
      "m/dice1/moments/moving_variance",
    ]);
    expect(mlp.layers.map((l) => l.activation)).toEqual(["none", "none"]);
    const x = tf.tensor2d(X);
    expect(() => mlp.apply(x)).toThrow(/forward mode/);
    const [w0, b0, w1, b1] = mlp.variables();
    const d0 = new Dice("d0", new ParamInit(3), { size: 4 });
    const d1 = new Dice("d1", new ParamInit(3), { size: 2 });
    const expected = d1.apply(tf.add(tf.matMul(d0.apply(tf.add(tf.matMul(x, w0!), b0!), { mode: "train" }), w1!), b1!), { mode: "train" });
    expectClose(mlp.apply(x, { mode: "train" }), expected, 1e-6);
  });
});
