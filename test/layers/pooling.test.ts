import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { maskedMeanPool } from "../../src/layers/pooling.ts";
import { expectClose } from "./helpers.ts";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("maskedMeanPool", () => {
  it("averages real positions only; empty sequences give zeros and zero gradient, never NaN", () => {
    const x = tf.tensor3d([
      [[1, 2], [3, 4], [100, 100]],
      [[7, 7], [7, 7], [7, 7]],
      [[5, -5], [9, 9], [9, 9]],
    ]);
    const mask = tf.tensor2d([[1, 1, 0], [0, 0, 0], [1, 0, 0]]);
    expectClose(maskedMeanPool(x, mask), [2, 3, 0, 0, 5, -5], 0);
    const grad = tf.grad((input: tf.Tensor) => tf.sum(maskedMeanPool(input, mask)))(x);
    expectClose(grad, [0.5, 0.5, 0.5, 0.5, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0], 0);
    expect(Array.from(grad.dataSync()).every(Number.isFinite)).toBe(true);
  });
});
