import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../src/engine/backend.ts";
import { removeKernelOverrides } from "../src/engine/kernels/registry.ts";
import { countKernelCalls, randomData, useMode, type Mode } from "./helpers/kernel-modes.ts";

/**
 * engine:clone/shared-data (src/engine/kernels/saved-tensors.ts): tensors saved for a gradient share
 * their data without the Identity kernel or a tape node of their own, for first-order gradients on
 * wasm. Nothing computed changes: gradients are compared by bit pattern with tfjs's own clone.
 */

beforeAll(async () => {
  await selectBackend("wasm");
});
afterAll(() => {
  removeKernelOverrides();
});

const numDataIds = () => tf.engine().backend.numDataIds();

/** A small model's loss with ops whose gradients save tensors: a matmul, sigmoid, a product, a custom gradient, a concat. */
function loss(w: tf.Tensor, table: tf.Tensor, x: tf.Tensor, mix: tf.Tensor): tf.Scalar {
  const square = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [a, save] = args as [tf.Tensor, tf.GradSaveFunc];
    save([a]);
    return { value: tf.square(a), gradFunc: (dy: tf.Tensor, [saved]: tf.Tensor[]) => tf.mul(dy, tf.mul(saved!, 2)) };
  });
  const h = tf.sigmoid(tf.matMul(tf.concat([x, tf.matMul(mix as tf.Tensor2D, table as tf.Tensor2D)], 1) as tf.Tensor2D, w as tf.Tensor2D));
  return tf.sum(tf.mul(square(h), h));
}

describe("engine:clone/shared-data", () => {
  it("gives bit-identical gradients without an Identity call, and leaks nothing over steps", async () => {
    const data = { w: randomData(10 * 4, 1), table: randomData(5 * 4, 2), x: randomData(3 * 6, 3), mix: randomData(3 * 5, 4) };
    const grads: Partial<Record<Mode, Float32Array[]>> = {};
    const identityCalls: Partial<Record<Mode, number>> = {};
    for (const mode of ["wasm-original", "wasm-override"] as const) {
      await useMode(mode);
      expect(Object.hasOwn(tf.engine(), "clone")).toBe(mode === "wasm-override");
      const w = tf.tensor2d(data.w, [10, 4]);
      const table = tf.tensor2d(data.table, [5, 4]);
      const x = tf.tensor2d(data.x, [3, 6]);
      const mix = tf.tensor2d(data.mix, [3, 5]);
      const { result, calls } = countKernelCalls(tf.Identity, () => tf.grads((a: tf.Tensor, b: tf.Tensor) => loss(a, b, x, mix))([w, table]));
      identityCalls[mode] = calls;
      grads[mode] = await Promise.all(result.map(async (g) => (await g.data()) as Float32Array));
      tf.dispose([...result, w, table, x, mix]);
    }
    expect(identityCalls["wasm-original"]).toBeGreaterThan(5);
    expect(identityCalls["wasm-override"]).toBe(0);
    for (let i = 0; i < 2; i++) expect(Array.from(grads["wasm-override"]![i]!)).toEqual(Array.from(grads["wasm-original"]![i]!));

    const w = tf.variable(tf.tensor2d(data.w, [10, 4]));
    const table = tf.variable(tf.tensor2d(data.table, [5, 4]));
    const x = tf.tensor2d(data.x, [3, 6]);
    const mix = tf.tensor2d(data.mix, [3, 5]);
    const step = () => tf.tidy(() => void tf.variableGrads(() => loss(w, table, x, mix)));
    step();
    const tensors = tf.memory().numTensors;
    const buffers = numDataIds();
    for (let i = 0; i < 10; i++) step();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(numDataIds()).toBe(buffers);
    tf.dispose([w, table, x, mix]);
  });

  it("keeps tfjs's clone under nested tapes: a second derivative is still right", async () => {
    await useMode("wasm-override");
    const x = tf.tensor1d([-1.5, 0.5, 2]);
    // f(x) = Σ x·x·x: Multiply's gradient saves both operands, and the outer tape differentiates through them.
    const f = (t: tf.Tensor) => tf.sum(tf.mul(tf.mul(t, t), t));
    const second = () => tf.grad((t: tf.Tensor) => tf.sum(tf.grad(f)(t)))(x);
    const patched = await second().data();
    await useMode("wasm-original");
    const original = await second().data();
    expect(Array.from(patched)).toEqual(Array.from(original));
    expect(Array.from(patched)).toEqual([-9, 3, 12]); // 6x
    x.dispose();
  });
});
