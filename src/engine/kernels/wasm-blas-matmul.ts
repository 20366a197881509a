/**
 * wasm matmul kernels on OpenBLAS (engine/blas.ts), used instead of the explicit-transpose
 * overrides when the library loads. sgemm reads and writes the wasm heap in place (the operands'
 * heap views are passed as pointers) and takes the transposes itself, so a gradient's transposed
 * product costs no copy. _FusedMatMul with a bias and no activation or ReLU (Dense's): the product,
 * then one SIMD pass in place adding the bias and applying the ReLU (relu-simd.wat's addBias: the
 * same bits as the Add and Relu kernels after the product). Other activations: the bias is written
 * into the output first and added by sgemm (beta = 1), then the activation kernel runs.
 *
 * Left to the wrapped kernel (`fallback`): other dtypes, empty operands, batch shapes that
 * broadcast other than "equal" or "one side has a single matrix", and batched products too small
 * for a library call to pay (DIN's per-row attention products), where the call overhead dominates.
 * In the registered BatchMatMul override, batches of matrices of up to SMALL_MATRIX_WORK.withBlas
 * multiply-adds never get here: the SIMD kernel in front of it takes them (small-batched-matmul.ts).
 */
import type * as TF from "@tensorflow/tfjs";
import { loadedBlas, type Blas } from "../blas.ts";
import type { KernelOverride } from "./types.ts";
import { disposeInfos, explicitTransposeMatMul } from "./wasm-batchmatmul.ts";
import { activate, wasmFusedMatMul } from "./wasm-fusedmatmul.ts";
import { addBiasInPlace, reluInPlace } from "./relu-grad.ts";
import { matmulPlan, type MatMulPlan } from "./matmul-plan.ts";
import { SMALL_MATRIX_WORK, smallBatchedMatMul } from "./small-batched-matmul.ts";
import { wasmHeapMemory, type WasmHeapBackend } from "./wasm-module.ts";

/**
 * Multiply-adds per matrix below which a batched product goes to `fallback` (for this kernel on its
 * own: the registered override sends batches of small matrices to the SIMD kernel first): below it
 * a library call per matrix no longer pays (docs/performance.md).
 */
const MIN_BATCHED_WORK = 1_024;

/** out[i] = op(a[i])·op(b[i]) (+ out[i] when `accumulate`), batch by batch, on the wasm heap. */
function gemm(blas: Blas, backend: WasmHeapBackend, a: TF.TensorInfo, b: TF.TensorInfo, out: TF.TensorInfo, p: MatMulPlan, transposeA: boolean, transposeB: boolean, accumulate: boolean): void {
  // Views after makeOutput: growing the heap detaches older ones.
  const av = backend.typedArrayFromHeap(a);
  const bv = backend.typedArrayFromHeap(b);
  const ov = backend.typedArrayFromHeap(out);
  const { m, n, k } = p;
  if (k === 0) {
    // An empty sum: zeros (or what the output already holds, when accumulating onto a bias).
    if (!accumulate) ov.fill(0);
    return;
  }
  const lda = transposeA ? m : k;
  const ldb = transposeB ? k : n;
  for (let i = 0; i < p.batch; i++) {
    const ai = av.subarray(i * p.strideA, i * p.strideA + m * k);
    const bi = bv.subarray(i * p.strideB, i * p.strideB + k * n);
    const oi = p.batch === 1 ? ov : ov.subarray(i * m * n, (i + 1) * m * n);
    blas.sgemm(transposeA, transposeB, m, n, k, 1, ai, lda, bi, ldb, accumulate ? 1 : 0, oi, n);
  }
}

/** One value per output column (a Dense layer's bias): other biases go to the fallback. */
function isRowBias(bias: TF.TensorInfo, n: number): boolean {
  return bias.dtype === "float32" && bias.shape.reduce((x, d) => x * d, 1) === n && bias.shape[bias.shape.length - 1] === n;
}

/** The product's plan when OpenBLAS should take it: not a batch of matrices too small for a library call to pay. */
function plan(a: TF.TensorInfo, b: TF.TensorInfo, transposeA: boolean, transposeB: boolean): MatMulPlan | undefined {
  const p = matmulPlan(a, b, transposeA, transposeB);
  return p === undefined || (p.batch > 1 && p.k > 0 && p.m * p.n * p.k < MIN_BATCHED_WORK) ? undefined : p;
}

/** BatchMatMul on OpenBLAS, else `fallback`. */
export function blasBatchMatMul(fallback: TF.KernelFunc): TF.KernelFunc {
  return (args) => {
    const blas = loadedBlas();
    const { a, b } = args.inputs;
    const transposeA = args.attrs?.["transposeA"] === true;
    const transposeB = args.attrs?.["transposeB"] === true;
    const p = blas && a && b ? plan(a, b, transposeA, transposeB) : undefined;
    if (!blas || !a || !b || !p) return fallback(args);
    const backend = args.backend as WasmHeapBackend;
    const out = backend.makeOutput(p.outShape, "float32");
    gemm(blas, backend, a, b, out, p, transposeA, transposeB, false);
    return out;
  };
}

/** _FusedMatMul on OpenBLAS (bias broadcast along rows folded into sgemm), else `fallback`. */
export function blasFusedMatMul(fallback: TF.KernelFunc): TF.KernelFunc {
  return (args) => {
    const blas = loadedBlas();
    const { a, b, bias } = args.inputs;
    const attrs = args.attrs ?? {};
    const transposeA = attrs["transposeA"] === true;
    const transposeB = attrs["transposeB"] === true;
    const p = blas && a && b ? plan(a, b, transposeA, transposeB) : undefined;
    if (!blas || !a || !b || !p || (bias !== undefined && !isRowBias(bias, p.n))) return fallback(args);
    const backend = args.backend as WasmHeapBackend;
    const out = backend.makeOutput(p.outShape, "float32");
    const activation = attrs["activation"] ?? "linear";
    if (bias !== undefined && (activation === "linear" || activation === "relu") && wasmHeapMemory(backend) !== undefined) {
      // The product, then bias and ReLU in one SIMD pass in place (relu-simd.wat's addBias: the
      // bits of the Add and Relu kernels after the plain product).
      gemm(blas, backend, a, b, out, p, transposeA, transposeB, false);
      addBiasInPlace(backend, out, bias, p.batch * p.m, p.n, activation === "relu");
      return out;
    }
    if (bias !== undefined) {
      const ov = backend.typedArrayFromHeap(out);
      const bv = backend.typedArrayFromHeap(bias);
      for (let row = 0, rows = p.batch * p.m; row < rows; row++) ov.set(bv, row * p.n);
    }
    gemm(blas, backend, a, b, out, p, transposeA, transposeB, bias !== undefined);
    // ReLU in place on the fresh output (relu-simd.wat: the wasm Relu kernel's bits), else the activation kernel.
    if (attrs["activation"] === "relu" && reluInPlace(backend, out)) return out;
    const activated = activate(out, args.inputs, attrs, backend);
    if (activated === undefined) {
      disposeInfos(backend, [out]);
      return fallback(args); // an activation the wasm kernels lack: the original reports it
    }
    if (activated !== out) disposeInfos(backend, [out]);
    return activated;
  };
}

export const wasmBlasBatchMatMulOverride: KernelOverride = {
  name: "wasm:BatchMatMul/openblas+small-simd",
  kernelName: "BatchMatMul",
  backendName: "wasm",
  // Batches of small matrices first go to the SIMD kernel (small-batched-matmul.ts).
  wrap: (original) => smallBatchedMatMul(blasBatchMatMul(explicitTransposeMatMul(original)), SMALL_MATRIX_WORK.withBlas),
};

export const wasmBlasFusedMatMulOverride: KernelOverride = {
  name: "wasm:_FusedMatMul/openblas",
  kernelName: "_FusedMatMul",
  backendName: "wasm",
  wrap: (original) => blasFusedMatMul(wasmFusedMatMul(original)),
};
