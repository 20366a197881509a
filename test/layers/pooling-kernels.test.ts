import { beforeAll, describe, expect, it } from "vitest";
import { selectBackend, tf } from "../../src/engine/index.ts";
import { maskedMeanPool, maskedSum, meanOfMaskedSums } from "../../src/layers/pooling.ts";

beforeAll(async () => {
  await selectBackend("wasm");
});

/** A float in [-1, 1) from a seed (no tfjs randomness: the reference below recomputes it). */
const value = (i: number) => ((Math.imul(i + 1, 2_654_435_761) >>> 0) / 2 ** 31) - 1;

describe("maskedMeanPool on the wasm backend with mkt's kernels (a batch of products, as models run it)", () => {
  it("gives the mean over real positions and its gradient, against a float64 definition", () => {
    const [batch, length, width] = [64, 20, 16];
    const x = Float32Array.from({ length: batch * length * width }, (_, i) => value(i));
    // Row b has b % (length + 1) real positions (row 0 and row 21 none), not all at the front.
    const mask = Float32Array.from({ length: batch * length }, (_, i) => ((i % length) * 7) % length < Math.floor(i / length) % (length + 1) ? 1 : 0);
    const up = Float32Array.from({ length: batch * width }, (_, i) => value(10_000 + i));
    const xs = tf.tensor3d(x, [batch, length, width]);
    const masks = tf.tensor2d(mask, [batch, length]);
    const pooled = maskedMeanPool(xs, masks).dataSync();
    const grad = tf.grad((input: tf.Tensor) => tf.sum(tf.mul(maskedMeanPool(input, masks), tf.tensor2d(up, [batch, width]))))(xs).dataSync();
    let worst = 0;
    for (let b = 0; b < batch; b++) {
      let count = 0;
      for (let t = 0; t < length; t++) count += mask[b * length + t]!;
      for (let d = 0; d < width; d++) {
        let sum = 0;
        for (let t = 0; t < length; t++) sum += mask[b * length + t]! * x[(b * length + t) * width + d]!;
        worst = Math.max(worst, Math.abs(pooled[b * width + d]! - sum / Math.max(count, 1)));
        for (let t = 0; t < length; t++) {
          const expected = (mask[b * length + t]! * up[b * width + d]!) / Math.max(count, 1);
          worst = Math.max(worst, Math.abs(grad[(b * length + t) * width + d]! - expected));
        }
      }
    }
    expect(worst).toBeLessThan(1e-6);
    expect(pooled.every(Number.isFinite) && grad.every(Number.isFinite)).toBe(true);
  });

  it("pools parts one by one to the very values of pooling their concatenation, gradients included", () => {
    const [batch, length] = [48, 20];
    const widths = [8, 16, 8];
    const parts = widths.map((w, p) => tf.tensor3d(Float32Array.from({ length: batch * length * w }, (_, i) => value(100_000 * (p + 1) + i)), [batch, length, w]));
    const mask = tf.tensor2d(Float32Array.from({ length: batch * length }, (_, i) => (i % length < Math.floor(i / length) % (length + 1) ? 1 : 0)), [batch, length]);
    const up = tf.tensor2d(Float32Array.from({ length: batch * 32 }, (_, i) => value(50_000 + i)), [batch, 32]);
    const loss = (pool: (xs: tf.Tensor[]) => tf.Tensor) => (...xs: tf.Tensor[]) => tf.sum(tf.mul(pool(xs), up));
    const whole = (xs: tf.Tensor[]) => maskedMeanPool(tf.concat(xs, 2), mask);
    const byParts = (xs: tf.Tensor[]) => meanOfMaskedSums(xs.map((x) => maskedSum(x, mask)), mask);
    expect(byParts(parts).shape).toEqual([batch, 32]);
    expect([...byParts(parts).dataSync()]).toEqual([...whole(parts).dataSync()]);
    const gradsWhole = tf.grads(loss(whole))(parts).map((g) => [...g.dataSync()]);
    const gradsParts = tf.grads(loss(byParts))(parts).map((g) => [...g.dataSync()]);
    expect(gradsParts).toEqual(gradsWhole);
  });
});
