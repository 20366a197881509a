/**
 * wasm Sum and Mean over a block of consecutive axes that does not include the innermost one: a
 * bias gradient (dY [batch, n] summed over the batch), batch statistics (Dice's and batch
 * normalization's moments, [batch, n] over the batch; masked ones as sums over real positions).
 *
 * tfjs-backend-wasm 4.22 reduces only innermost axes, so for any other it first transposes the
 * whole input (a full copy with strided reads), then reduces rows. Reducing in place needs no copy:
 * one sequential pass adding each row into a running row. Other reductions (innermost axes, every
 * axis, axes that are not consecutive) go to the original kernels.
 *
 * The passes run in sum-simd.wat (mkt's own WebAssembly on tfjs's heap, wasm-module.ts). Sum adds
 * each column in float64 from +0 in row order and rounds once, exactly as the JS loop (sumRowsJs,
 * kept as the fallback where the heap is not reachable), so both give the same bits
 * (test/kernels-dense.test.ts). Mean adds each column in float32 from +0 in row order and divides
 * by the row count: what tfjs's own Mean computes after its transpose, so the override changes no
 * bit of any model (test/kernels-dense.test.ts, "Mean over leading axes").
 */
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../tf.ts";
import type { KernelOverride } from "./types.ts";
import { WASM_BASE64 } from "./sum-simd.wasm.ts";
import { heapContext, type WasmHeapBackend } from "./wasm-module.ts";

/** sum-simd.wat's exports (arguments: byte offsets into the heap, then counts). */
interface SumPasses {
  sumRows(x: number, out: number, acc: number, outer: number, rows: number, width: number): void;
  meanRows(x: number, out: number, outer: number, rows: number, width: number): void;
}

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
export function sumBlock(original: TF.KernelFunc, simd = true): TF.KernelFunc {
  return (args) => {
    const { x } = args.inputs;
    const attrs = args.attrs ?? {};
    if (x && (x.dtype === "float32" || x.dtype === "int32") && x.shape.some((d) => d === 0)) return emptySum(x, attrs, args.backend as WasmHeapBackend);
    const block = x ? reducedBlock(attrs["axis"], x.shape.length) : undefined;
    if (!x || x.dtype !== "float32" || !block) return original(args);
    const { outer, rows, width, shape } = blockLayout(x.shape, block, attrs["keepDims"] === true);
    const backend = args.backend as WasmHeapBackend;
    const out = backend.makeOutput(shape, "float32");
    const heap = simd ? heapContext<SumPasses>(WASM_BASE64, backend) : undefined;
    if (heap !== undefined) {
      const acc = backend.makeOutput([2 * width], "float32"); // scratch: width float64 sums
      heap.passes.sumRows(heap.at(x), heap.at(out), heap.at(acc), outer, rows, width);
      backend.disposeData(acc.dataId);
    } else {
      // Views after makeOutput: growing the heap detaches older ones.
      sumRowsJs(backend.typedArrayFromHeap(x), backend.typedArrayFromHeap(out), outer, rows, width);
    }
    return out;
  };
}

/**
 * The override's Mean around `original`: a float32 reduction over a block of consecutive axes
 * before the innermost, in meanRows (sum-simd.wat); anything else, or no reachable heap, goes to
 * `original`.
 */
export function meanBlock(original: TF.KernelFunc): TF.KernelFunc {
  return (args) => {
    const { x } = args.inputs;
    const attrs = args.attrs ?? {};
    const block = x ? reducedBlock(attrs["axis"], x.shape.length) : undefined;
    const backend = args.backend as WasmHeapBackend;
    const heap = heapContext<SumPasses>(WASM_BASE64, backend);
    if (!x || x.dtype !== "float32" || !block || heap === undefined || x.shape.some((d) => d === 0)) return original(args);
    const { outer, rows, width, shape } = blockLayout(x.shape, block, attrs["keepDims"] === true);
    const out = backend.makeOutput(shape, "float32");
    heap.passes.meanRows(heap.at(x), heap.at(out), outer, rows, width);
    return out;
  };
}

/** `shape` reduced over `block`: outer blocks of rows × width values, and the output's shape. */
function blockLayout(shape: number[], block: { from: number; to: number }, keepDims: boolean) {
  return {
    outer: tf.util.sizeFromShape(shape.slice(0, block.from)),
    rows: tf.util.sizeFromShape(shape.slice(block.from, block.to)),
    width: tf.util.sizeFromShape(shape.slice(block.to)),
    shape: keepDims ? shape.map((d, i) => (i >= block.from && i < block.to ? 1 : d)) : [...shape.slice(0, block.from), ...shape.slice(block.to)],
  };
}

/** The sum of an empty tensor: zeros of the reduced shape (wasm's own kernel leaves them uninitialized). */
function emptySum(x: TF.TensorInfo, attrs: tf.NamedAttrMap, backend: WasmHeapBackend): TF.TensorInfo {
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

export const wasmMeanOverride: KernelOverride = {
  name: "wasm:Mean/no-transpose",
  kernelName: "Mean",
  backendName: "wasm",
  wrap: meanBlock,
};
