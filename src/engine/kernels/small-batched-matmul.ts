/**
 * Batches of small products (per-row attention and expert mixing: [B,1,L]·[B,L,D], [B,1,E]·[B,E,D]
 * and their gradients) in one SIMD pass of mkt's own (bmm-simd.wat) on the wasm heap. tfjs-backend-
 * wasm's kernel sets up XNNPACK for every matrix of the batch and OpenBLAS costs a library call per
 * matrix: fixed costs larger than the work of matrices of a few hundred to a few thousand multiply-adds.
 *
 * Part of both BatchMatMul overrides (with OpenBLAS and without): a product with more than one
 * matrix and at most SMALL_MATRIX_WORK multiply-adds per matrix runs here, anything else goes to
 * `fallback`. Each output is a float32 sum of float32 products, in t order where b is not
 * transposed, else in four interleaved partial sums (bmm-simd.wat).
 */
import type * as TF from "@tensorflow/tfjs";
import { WASM_BASE64 } from "./bmm-simd.wasm.ts";
import { matmulPlan } from "./matmul-plan.ts";
import { heapContext } from "./wasm-module.ts";

/**
 * Largest multiply-adds per matrix sent here: where the SIMD loop beats one OpenBLAS call per
 * matrix, and where it beats tfjs-backend-wasm's own kernel (benchmarks/small-batched.ts,
 * docs/performance.md).
 */
export const SMALL_MATRIX_WORK = { withBlas: 8_192, withoutBlas: 262_144 } as const;

/** bmm-simd.wat's export (arguments: byte offsets into the heap, then sizes and flags). */
interface BmmPasses {
  bmm(a: number, b: number, out: number, batch: number, m: number, n: number, k: number, strideA: number, strideB: number, transA: number, transB: number): void;
}

/** BatchMatMul of batched matrices of at most `maxWork` multiply-adds each in SIMD, else `fallback`. */
export function smallBatchedMatMul(fallback: TF.KernelFunc, maxWork: number): TF.KernelFunc {
  return (args) => {
    const { a, b } = args.inputs;
    const transposeA = args.attrs?.["transposeA"] === true;
    const transposeB = args.attrs?.["transposeB"] === true;
    const heap = heapContext<BmmPasses>(WASM_BASE64, args.backend);
    const p = a && b && heap ? matmulPlan(a, b, transposeA, transposeB) : undefined;
    if (!a || !b || !heap || !p || p.batch < 2 || p.m * p.n * p.k > maxWork) return fallback(args);
    const { b: backend, passes, at } = heap;
    const out = backend.makeOutput(p.outShape, "float32");
    passes.bmm(at(a), at(b), at(out), p.batch, p.m, p.n, p.k, p.strideA, p.strideB, transposeA ? 1 : 0, transposeB ? 1 : 0);
    return out;
  };
}
