import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { cosineSimilarity } from "../../src/layers/cosine.ts";
import { expectClose } from "./helpers.ts";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("cosineSimilarity", () => {
  it("matches a·b / (|a| |b|) row by row", () => {
    const a = [[1, 2, 2], [3, 0, 4], [1, 1, 0]];
    const b = [[2, 4, 4], [-3, 0, -4], [0, 0, 5]];
    // Rows: parallel (1), opposite (−1), orthogonal (0); plus a general one below.
    expectClose(cosineSimilarity(tf.tensor2d(a), tf.tensor2d(b)), [1, -1, 0]);
    const general = cosineSimilarity(tf.tensor2d([[1, 2]]), tf.tensor2d([[3, -1]]));
    expectClose(general, [(3 - 2) / (Math.sqrt(5) * Math.sqrt(10))]);
  });

  it("is 0 with finite gradients for zero vectors", () => {
    const a = tf.tensor2d([[0, 0, 0], [1, 2, 3]]);
    const b = tf.tensor2d([[1, 2, 3], [0, 0, 0]]);
    expectClose(cosineSimilarity(a, b), [0, 0], 0);
    const [ga, gb] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(cosineSimilarity(x, y)))([a, b]);
    for (const g of [ga!, gb!]) {
      for (const value of g.dataSync()) expect(Number.isFinite(value)).toBe(true);
    }
  });
});
