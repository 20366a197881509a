import * as tf from "@tensorflow/tfjs";
import { applyKernelOverrides, removeKernelOverrides } from "../../src/engine/kernels/registry.ts";
import { mulberry32 } from "../../src/util/random.ts";

/** Where a kernel-override test runs a computation: the cpu backend, or wasm without or with mkt's overrides. */
export type Mode = "cpu" | "wasm-original" | "wasm-override";

export async function useMode(mode: Mode): Promise<void> {
  if (mode === "cpu") {
    await tf.setBackend("cpu");
    return;
  }
  await tf.setBackend("wasm");
  if (mode === "wasm-override") applyKernelOverrides("wasm");
  else removeKernelOverrides();
}

/** Deterministic uniform [-1, 1) data (mulberry32), so every backend sees the same numbers. */
export function randomData(size: number, seed: number): Float32Array {
  const uniform = mulberry32(seed);
  return Float32Array.from({ length: size }, () => uniform() * 2 - 1);
}
