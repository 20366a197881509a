/**
 * wasm Sum over a block of consecutive axes that does not include the innermost one: a bias
 * gradient (dY [batch, n] summed over the batch), mean pooling of a sequence ([n, L, d] over L).
 *
 * tfjs-backend-wasm 4.22 reduces only innermost axes, so for any other it first transposes the
 * whole input (a full copy with strided reads), then sums rows. Summing in place needs no copy: one
 * sequential pass adding each row into a running row of sums (in doubles). Other reductions
 * (innermost axes, every axis, axes that are not consecutive) go to the original kernel.
 *
 * The sums run in sum-simd.wat (mkt's own WebAssembly on tfjs's heap, wasm-module.ts): the same
 * pass with f64x2 adds, into a scratch row the backend allocates. Each column is summed in float64
 * from +0 in row order and rounded once, exactly as the JS loop (sumRowsJs, kept as the fallback
 * where the heap is not reachable), so both give the same bits (test/kernels-dense.test.ts).
 */
import { tf } from "../tf.ts";
import type { KernelOverride } from "./types.ts";
import { WASM_BASE64 } from "./sum-simd.wasm.ts";
import { heapModuleExports, wasmHeapMemory, type WasmHeapBackend } from "./wasm-module.ts";


type SimdSumRows = (x: number, out: number, acc: number, outer: number, rows: number, width: number) => void;

/** The reduced block [from, to) when `axis` names consecutive axes ending before the innermost; else undefined. */
export function reducedBlock(axis: unknown, rank: number): { from: number; to: number } | undefined {
  const axes = (Array.isArray(axis) ? axis : [axis]).map((a) => (typeof a === "number" && a < 0 ? a + rank : a));
  if (axes.length === 0 || !axes.every((a) => typeof a === "number" && Number.isInteger(a) && a >= 0 && a < rank)) return undefined;
  const sorted = [...new Set(axes as number[])].sort((x, y) => x - y);
  const from = sorted[0]!;
  const to = from + sorted.length;
  return sorted.every((a, i) => a === from + i) && to < rank ? { from, to } : undefined;
}

/** Floats per outer block up to which columns are summed in registers. */
const SMALL_BLOCK = 4096;

/** The override's kernelFunc around `original`; `simd: false` runs the JS loop (benchmarks, tests). */
export function sumBlock(original: tf.KernelFunc, simd = true): tf.KernelFunc {
  return (args) => {
    const { x } = args.inputs;
    const attrs = args.attrs ?? {};
    if (x && (x.dtype === "float32" || x.dtype === "int32") && x.shape.some((d) => d === 0)) return emptySum(x, attrs, args.backend as WasmHeapBackend);
    const block = x ? reducedBlock(attrs["axis"], x.shape.length) : undefined;
    if (!x || x.dtype !== "float32" || !block) return original(args);
    const product = (dims: number[]) => dims.reduce((p, d) => p * d, 1);
    const outer = product(x.shape.slice(0, block.from));
    const rows = product(x.shape.slice(block.from, block.to));
    const width = product(x.shape.slice(block.to));
    const shape = attrs["keepDims"] === true ? x.shape.map((d, i) => (i >= block.from && i < block.to ? 1 : d)) : [...x.shape.slice(0, block.from), ...x.shape.slice(block.to)];
    const backend = args.backend as WasmHeapBackend;
    const out = backend.makeOutput(shape, "float32");
    const memory = simd ? wasmHeapMemory(backend) : undefined;
    if (memory !== undefined) {
      const sumRows = heapModuleExports(WASM_BASE64, memory).sumRows as SimdSumRows;
      const acc = backend.makeOutput([2 * width], "float32"); // scratch: width float64 sums
      sumRows(backend.getMemoryOffset(x.dataId), backend.getMemoryOffset(out.dataId), backend.getMemoryOffset(acc.dataId), outer, rows, width);
      backend.disposeData(acc.dataId);
    } else {
      // Views after makeOutput: growing the heap detaches older ones.
      sumRowsJs(backend.typedArrayFromHeap(x), backend.typedArrayFromHeap(out), outer, rows, width);
    }
    return out;
  };
}

/** The sum of an empty tensor: zeros of the reduced shape (wasm's own kernel leaves them uninitialized). */
function emptySum(x: tf.TensorInfo, attrs: tf.NamedAttrMap, backend: WasmHeapBackend): tf.TensorInfo {
  const axes = tf.util.parseAxisParam((attrs["axis"] ?? null) as number | number[] | null ?? x.shape.map((_, i) => i), x.shape);
  const [reduced] = tf.backend_util.computeOutAndReduceShapes(x.shape, axes);
  const shape = attrs["keepDims"] === true ? tf.backend_util.expandShapeToKeepDim(reduced, axes) : reduced;
  const out = backend.makeOutput(shape, x.dtype);
  backend.typedArrayFromHeap(out).fill(0);
  return out;
}

/**
 * dst[o][c] = Σ_r src[o][r][c] (outer blocks of rows × width), each sum in doubles from 0 in row
 * order: the override's loop before sum-simd.wat, which computes the same additions.
 */
export function sumRowsJs(src: Float32Array, dst: Float32Array, outer: number, rows: number, width: number): void {
  if (rows * width <= SMALL_BLOCK) {
    // Each outer block fits in L1: sum every column in a register (strided reads stay in cache).
    for (let o = 0; o < outer; o++) {
      const base = o * rows * width;
      for (let c = 0; c < width; c++) {
        let sum = 0;
        for (let r = 0, i = base + c; r < rows; r++, i += width) sum += src[i]!;
        dst[o * width + c] = sum;
      }
    }
    return;
  }
  // Large blocks (a bias gradient over a batch): stream rows into a running row of sums.
  const acc = new Float64Array(width);
  for (let o = 0; o < outer; o++) {
    acc.fill(0);
    for (let r = 0, base = o * rows * width; r < rows; r++) {
      for (let c = 0, s = base + r * width; c < width; c++) acc[c]! += src[s + c]!;
    }
    dst.set(acc, o * width);
  }
}

export const wasmSumOverride: KernelOverride = {
  name: "wasm:Sum/no-transpose",
  kernelName: "Sum",
  backendName: "wasm",
  wrap: sumBlock,
};
