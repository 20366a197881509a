import * as tf from "@tensorflow/tfjs";
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
