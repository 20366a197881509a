import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { selectBackend } from "../../src/engine/backend.ts";
import { ADAM_KERNEL } from "../../src/engine/kernels/adam-kernel.ts";
import { applyKernelOverrides, removeKernelOverrides } from "../../src/engine/kernels/registry.ts";
import { Adam } from "../../src/train/adam.ts";
import { mulberry32 } from "../../src/util/random.ts";

const random = (n: number, seed: number) => {
  const u = mulberry32(seed);
  return Float32Array.from({ length: n }, () => u() * 2 - 1);
};

/** Five Adam steps on a quadratic with per-step random gradients scaling; returns the final values. */
function run(makeOptimizer: () => { applyGradients(g: tf.NamedTensorMap): void; dispose(): void }): Float32Array[] {
  const vars = tf.tidy(() => [tf.variable(tf.tensor2d(random(12, 1), [3, 4])), tf.variable(tf.tensor1d(random(5, 2)))]);
  const optimizer = makeOptimizer();
  for (let step = 0; step < 5; step++) {
    tf.tidy(() => {
      const grads: tf.NamedTensorMap = {};
      vars.forEach((v, i) => (grads[v.name] = tf.add(tf.mul(v, 2), tf.tensor(random(v.size, 10 + 7 * step + i), v.shape))));
      optimizer.applyGradients(grads);
    });
  }
  optimizer.dispose();
  const out = vars.map((v) => v.dataSync() as Float32Array).map((a) => a.slice());
  tf.dispose(vars);
  return out;
}

function maxDiff(a: Float32Array[], b: Float32Array[]): number {
  let m = 0;
  a.forEach((x, i) => x.forEach((v, j) => (m = Math.max(m, Math.abs(v - b[i]![j]!)))));
  return m;
}

describe("Adam (fused kernel and tfjs ops)", () => {
  for (const backend of ["wasm", "cpu"] as const) {
    it(`${backend}: the fused kernel, the ops fallback and tfjs's own Adam agree over 5 steps`, async () => {
      await selectBackend(backend);
      expect(tf.getKernel(ADAM_KERNEL, backend)).toBeDefined();
      const tensors = tf.memory().numTensors;
      const fused = run(() => new Adam(0.01));
      const reference = run(() => tf.train.adam(0.01) as unknown as { applyGradients(g: tf.NamedTensorMap): void; dispose(): void });
      removeKernelOverrides((name) => name.includes(ADAM_KERNEL));
      expect(tf.getKernel(ADAM_KERNEL, backend)).toBeUndefined();
      const ops = run(() => new Adam(0.01));
      applyKernelOverrides(backend);
      const initial = run(() => ({ applyGradients: () => undefined, dispose: () => undefined }));
      expect(tf.memory().numTensors).toBe(tensors);
      // The parameters moved by ~5 × lr; the three paths agree to float32 rounding.
      expect(maxDiff(fused, initial)).toBeGreaterThan(0.01);
      expect(maxDiff(fused, reference)).toBeLessThan(1e-6);
      expect(maxDiff(ops, reference)).toBeLessThan(1e-6);
    });
  }

  it("keeps each variable's moments by name when a step leaves a variable out", async () => {
    await selectBackend("wasm");
    const [a, b] = tf.tidy(() => [tf.variable(tf.scalar(1)), tf.variable(tf.scalar(1))]);
    const adam = new Adam(0.1);
    tf.tidy(() => adam.applyGradients({ [a.name]: tf.scalar(1), [b.name]: tf.scalar(-1) }));
    tf.tidy(() => adam.applyGradients({ [b.name]: tf.scalar(-1) })); // a gets no gradient this step
    // b took two identical steps of lr (bias-corrected Adam with a constant gradient moves by lr each step).
    expect(b.dataSync()[0]).toBeCloseTo(1.2, 5);
    expect(a.dataSync()[0]).toBeCloseTo(0.9, 5);
    adam.dispose();
    tf.dispose([a, b]);
  });
});
