/**
 * Batches of small matrices: the SIMD kernel (src/engine/kernels/small-batched-matmul.ts) against
 * one OpenBLAS call per matrix and against tfjs-backend-wasm's own BatchMatMul (with the explicit
 * transposes), side by side on the same operands. Sets SMALL_MATRIX_WORK's thresholds.
 * Usage: npx tsx benchmarks/small-batched.ts [reps]
 */
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../src/engine/backend.ts";
import { loadedBlas } from "../src/engine/blas.ts";
import { removeKernelOverrides } from "../src/engine/kernels/registry.ts";
import { smallBatchedMatMul } from "../src/engine/kernels/small-batched-matmul.ts";
import { explicitTransposeMatMul } from "../src/engine/kernels/wasm-batchmatmul.ts";
import { blasBatchMatMul } from "../src/engine/kernels/wasm-blas-matmul.ts";

const reps = Number(process.argv[2] ?? 40);
await selectBackend("wasm");
removeKernelOverrides();
const original = tf.getKernel(tf.BatchMatMul, "wasm")!.kernelFunc;
const refuse = () => {
  throw new Error("not taken by this kernel");
};
const kernels: [string, tf.KernelFunc][] = [
  ["simd", smallBatchedMatMul(refuse, Infinity)],
  ...(loadedBlas() ? [["openblas", blasBatchMatMul(refuse)] as [string, tf.KernelFunc]] : []),
  ["wasm", explicitTransposeMatMul(original)],
];
const backend = tf.engine().backend;

/** Median ms of `reps` calls. */
function time(kernel: tf.KernelFunc, args: Parameters<tf.KernelFunc>[0]): number {
  const once = () => {
    const t0 = performance.now();
    backend.disposeData((kernel(args) as tf.TensorInfo).dataId);
    return performance.now() - t0;
  };
  for (let i = 0; i < 3; i++) once();
  const times = Array.from({ length: reps }, once).sort((x, y) => x - y);
  return times[Math.floor(reps / 2)]!;
}

console.log(`| batch | m | n | k | b transposed | multiply-adds per matrix | ${kernels.map(([name]) => `${name} ms`).join(" | ")} |`);
console.log(`|---|---|---|---|---|---|${kernels.map(() => "---|").join("")}`);
const shapes: [number, number, number, number, boolean][] = [
  [915, 1, 1024, 2, false], // MEM/MMoE/PLE gate mixing
  [915, 1, 2, 1024, true], // its gradient w.r.t. the gate
  [1024, 20, 24, 1, false], // DIN attention's gradient w.r.t. the values (an outer product per row)
  [1024, 1, 24, 20, false], // DIN attention pooling
  [512, 16, 16, 16, false],
  [512, 16, 16, 16, true],
  [256, 24, 24, 24, false],
  [256, 32, 32, 32, false],
  [64, 64, 64, 64, false],
];
for (const [batch, m, n, k, transB] of shapes) {
  const a = tf.randomNormal([batch, m, k]);
  const b = tf.randomNormal(transB ? [batch, n, k] : [batch, k, n]);
  const args = { inputs: { a, b }, backend, attrs: { transposeA: false, transposeB: transB } } as unknown as Parameters<tf.KernelFunc>[0];
  const ms = kernels.map(([name, kernel]) => (name === "openblas" && m * n * k < 1024 ? "—" : time(kernel, args).toFixed(3)));
  console.log(`| ${batch} | ${m} | ${n} | ${k} | ${transB ? "yes" : "no"} | ${(m * n * k).toLocaleString("en-US")} | ${ms.join(" | ")} |`);
  tf.dispose([a, b]);
}
