import * as tf from "@tensorflow/tfjs";
import { expect } from "vitest";
import { applyKernelOverrides, removeKernelOverrides } from "../../src/engine/kernels/registry.ts";
import { mulberry32 } from "../../src/util/random.ts";

/**
 * Where a kernel-override test runs a computation: the cpu backend, or wasm without mkt's
 * overrides, with them (matmuls with explicit transposes), or with them and OpenBLAS matmuls.
 */
export type Mode = "cpu" | "wasm-original" | "wasm-override" | "wasm-blas";

export async function useMode(mode: Mode): Promise<void> {
  if (mode === "cpu") {
    await tf.setBackend("cpu");
    return;
  }
  await tf.setBackend("wasm");
  removeKernelOverrides();
  if (mode === "wasm-override") applyKernelOverrides("wasm", { blas: false });
  if (mode === "wasm-blas") applyKernelOverrides("wasm", { blas: true });
}

/** Deterministic uniform [-1, 1) data (mulberry32), so every backend sees the same numbers. */
export function randomData(size: number, seed: number): Float32Array {
  const uniform = mulberry32(seed);
  return Float32Array.from({ length: size }, () => uniform() * 2 - 1);
}

export const size = (shape: readonly number[]): number => shape.reduce((n, d) => n * d, 1);

/** Largest elementwise difference, relative to 1 + |y| (arrays of one length). */
export function maxDiff(x: Float32Array, y: Float32Array): number {
  expect(x.length).toBe(y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!) / (1 + Math.abs(y[i]!)));
  return m;
}

/** Runs `fn` with the wasm kernel `kernelName` (as registered now) wrapped by a counter: how often it ran. */
export function countKernelCalls<T>(kernelName: string, fn: () => T): { result: T; calls: number } {
  const config = tf.getKernel(kernelName, "wasm");
  if (config === undefined) return { result: fn(), calls: 0 };
  let calls = 0;
  tf.unregisterKernel(kernelName, "wasm");
  tf.registerKernel({ ...config, kernelFunc: (args) => (calls++, config.kernelFunc(args)) });
  try {
    const result = fn();
    return { result, calls };
  } finally {
    tf.unregisterKernel(kernelName, "wasm");
    tf.registerKernel(config);
  }
}
