/**
 * wasm overrides for the kernels that only move data: GatherV2, Concat, Pack, Unpack, SplitV, Slice,
 * Transpose (when the last axis stays last), and Identity and Cast to the same dtype (which need not
 * move anything).
 *
 * tfjs-backend-wasm 4.22 implements Concat and Slice (which Unpack and SplitV call) in JS with one
 * `subarray` + `set` per row: with the short rows of embedding features (8–24 floats) the typed
 * array allocations dominate. Its GatherV2 reads the indices back, checks each one through a
 * closure-taking assert, then runs a generic strided C++ gather, at a fixed cost per index
 * whatever the row size (docs/performance.md, "Kernel overrides").
 *
 * These versions copy straight between heap views: one `set` per long run, short runs and table
 * rows by mkt's own SIMD copies (copy-simd.wat), a plain loop for the smallest copies.
 * Anything outside the common case (strings, gather along another axis without batch dims, other
 * dtypes) goes to the original kernel.
 */
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../tf.ts";
import { WASM_BASE64 } from "./copy-simd.wasm.ts";
import type { KernelOverride } from "./types.ts";
import { heapModuleExports, wasmHeapMemory } from "./wasm-module.ts";

type HeapArray = Float32Array | Int32Array | Uint8Array;

/** The two BackendWasm methods these kernels need. */
interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): TF.TensorInfo;
  typedArrayFromHeap(t: TF.TensorInfo): HeapArray;
}

const numeric = (t: TF.TensorInfo): boolean => t.dtype === "float32" || t.dtype === "int32" || t.dtype === "bool";

/** Below this run length a loop beats creating a subarray to `set` from. */
const SET_THRESHOLD = 64;

/** Below this many elements in all, a JS loop costs less than the call into copy-simd.wat. */
const WASM_COPY_MIN = 256;

/**
 * From this many runs on, long runs too are copied by copy-simd.wat: one call beats a subarray and
 * a `set` per run (docs/performance.md, the data-movement overrides' row).
 */
const WASM_MANY_RUNS = 16;

type SimdCopyRuns = (src: number, srcStride: number, dst: number, dstStride: number, length: number, count: number) => void;
type SimdGatherRows = (src: number, indices: number, dst: number, count: number, length: number) => void;

/**
 * Copies `count` runs of `length` elements: run r from src[srcStart + r·srcStride] to
 * dst[dstStart + r·dstStride]. Short runs, and 16 or more long ones, on the wasm heap (`backend`'s, when reachable) are copied
 * by copy-simd.wat, 16 bytes at a time: a JS loop over a typed array of one of three types is
 * slow there (polymorphic element access).
 */
export function copyRuns(
  backend: object,
  src: HeapArray,
  srcStart: number,
  srcStride: number,
  dst: HeapArray,
  dstStart: number,
  dstStride: number,
  length: number,
  count: number,
): void {
  if (length === srcStride && length === dstStride) {
    dst.set(src.subarray(srcStart, srcStart + length * count), dstStart);
    return;
  }
  const memory = length * count >= WASM_COPY_MIN ? wasmHeapMemory(backend) : undefined;
  const onHeap = memory !== undefined && src.buffer === memory.buffer && dst.buffer === memory.buffer;
  // Short runs, or many long ones: one call into copy-simd.wat (a subarray per run costs more than
  // copying the run). A few long runs: one native copy (set) each.
  if (onHeap && (length < SET_THRESHOLD || count >= WASM_MANY_RUNS)) {
    const bytes = src.BYTES_PER_ELEMENT;
    const copy = heapModuleExports(WASM_BASE64, memory).copyRuns as SimdCopyRuns;
    copy(src.byteOffset + srcStart * bytes, srcStride * bytes, dst.byteOffset + dstStart * bytes, dstStride * bytes, length * bytes, count);
    return;
  }
  if (length >= SET_THRESHOLD) {
    for (let r = 0; r < count; r++) {
      const s = srcStart + r * srcStride;
      dst.set(src.subarray(s, s + length), dstStart + r * dstStride);
    }
    return;
  }
  for (let r = 0; r < count; r++) {
    const s = srcStart + r * srcStride;
    const d = dstStart + r * dstStride;
    for (let k = 0; k < length; k++) dst[d + k] = src[s + k]!;
  }
}

/** Output views must be taken after every makeOutput: growing the wasm heap detaches old views. */
function heap(backend: object): WasmHeapBackend {
  return backend as WasmHeapBackend;
}

/**
 * out[b, o, i, :] = x[b, o, indices[b, i], :] over batch dims b, outer dims o (between the batch dims
 * and `axis`) and index i, copying rows of `sliceSize` elements.
 *
 * Gathers along another axis without batch dims go to the original kernel (correct, and its C++
 * loop handles the strided case). Gathers with batch dims are done here: tfjs-backend-wasm 4.22's
 * Gather reads the indices of batch b from offset b·batchSize instead of b·(indices per batch), so
 * its result is wrong whenever the two differ (e.g. x [3, 10, 4], indices [3, 5], batchDims 1).
 */
function gatherRows(original: TF.KernelFunc): TF.KernelFunc {
  return (args) => {
    const { x, indices } = args.inputs;
    if (x === undefined || indices === undefined || x.shape.length === 0) return original(args);
    if (!numeric(x) || indices.dtype !== "int32") return original(args);
    const axis = tf.util.parseAxisParam(Number(args.attrs?.["axis"] ?? 0), x.shape)[0]!;
    const batchDims = Number(args.attrs?.["batchDims"] ?? 0);
    if (axis !== 0 && batchDims === 0) return original(args);
    // Validates axis/batchDims/shapes exactly as the original kernel does.
    const info = tf.backend_util.segment_util.collectGatherOpShapeInfo(x as tf.Tensor, indices as tf.Tensor, axis, batchDims);
    const { batchSize, outerSize, dimSize: rows, sliceSize: row } = info;
    const b = heap(args.backend);
    // Every index is checked before any output exists, as in the original: a throw leaks nothing.
    const checked = b.typedArrayFromHeap(indices);
    for (let i = 0; i < checked.length; i++) {
      const j = checked[i]!;
      if (j < 0 || j >= rows) throw new Error(`GatherV2: the index value ${j} is not in [0, ${rows - 1}]`);
    }
    const out = b.makeOutput(info.outputShape, x.dtype);
    const n = batchSize === 0 ? 0 : tf.util.sizeFromShape(indices.shape) / batchSize; // indices per batch
    const src = b.typedArrayFromHeap(x);
    const idx = b.typedArrayFromHeap(indices);
    const dst = b.typedArrayFromHeap(out);
    const memory = batchSize === 1 && outerSize === 1 && row < SET_THRESHOLD && n * row >= WASM_COPY_MIN ? wasmHeapMemory(args.backend) : undefined;
    if (memory !== undefined) {
      // An embedding lookup (rows of a table): copy-simd.wat's gatherRows, 16 bytes at a time.
      const bytes = src.BYTES_PER_ELEMENT;
      const gather = heapModuleExports(WASM_BASE64, memory).gatherRows as SimdGatherRows;
      gather(src.byteOffset, idx.byteOffset, dst.byteOffset, n, row * bytes);
      return out;
    }
    let d = 0;
    for (let bt = 0; bt < batchSize; bt++) {
      for (let o = 0; o < outerSize; o++) {
        const base = (bt * outerSize + o) * rows;
        for (let i = 0; i < n; i++, d += row) {
          const s = (base + idx[bt * n + i]!) * row;
          if (row >= SET_THRESHOLD) dst.set(src.subarray(s, s + row), d);
          else for (let k = 0; k < row; k++) dst[d + k] = src[s + k]!;
        }
      }
    }
    return out;
  };
}

function normalizeAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** out[o, (input i's part)] = input_i[o, :] along `axis`, for equal outer sizes. */
function concatInto(b: WasmHeapBackend, inputs: readonly TF.TensorInfo[], out: TF.TensorInfo, outer: number): void {
  const widths = inputs.map((t) => tf.util.sizeFromShape(t.shape) / outer);
  const total = widths.reduce((s, w) => s + w, 0);
  const dst = b.typedArrayFromHeap(out);
  let offset = 0;
  inputs.forEach((t, i) => {
    copyRuns(b, b.typedArrayFromHeap(t), 0, widths[i]!, dst, offset, total, widths[i]!, outer);
    offset += widths[i]!;
  });
}

function concat(original: TF.KernelFunc): TF.KernelFunc {
  return (args) => {
    const inputs = Object.values(args.inputs) as TF.TensorInfo[];
    const first = inputs[0];
    if (first === undefined || !inputs.every((t) => numeric(t) && t.dtype === first.dtype && t.shape.length === first.shape.length)) return original(args);
    const axis = normalizeAxis(Number(args.attrs?.["axis"] ?? 0), first.shape.length);
    const nonEmpty = inputs.filter((t) => tf.util.sizeFromShape(t.shape) > 0);
    if (nonEmpty.length < 2) return original(args); // identity / empty output: the original handles them
    tf.backend_util.assertParamsConsistent(inputs.map((t) => t.shape), axis);
    const outShape = tf.backend_util.computeOutShape(inputs.map((t) => t.shape), axis);
    const b = heap(args.backend);
    const out = b.makeOutput(outShape, first.dtype);
    concatInto(b, nonEmpty, out, tf.util.sizeFromShape(first.shape.slice(0, axis)));
    return out;
  };
}

function pack(original: TF.KernelFunc): TF.KernelFunc {
  return (args) => {
    const inputs = Object.values(args.inputs) as TF.TensorInfo[];
    const first = inputs[0];
    if (first === undefined || inputs.length < 2 || !inputs.every((t) => numeric(t) && t.dtype === first.dtype)) return original(args);
    for (const t of inputs) tf.util.assertShapesMatch(first.shape, t.shape, "All tensors passed to stack must have matching shapes");
    const axis = normalizeAxis(Number(args.attrs?.["axis"] ?? 0), first.shape.length + 1);
    const outShape = [...first.shape.slice(0, axis), inputs.length, ...first.shape.slice(axis)];
    const b = heap(args.backend);
    const out = b.makeOutput(outShape, first.dtype);
    if (tf.util.sizeFromShape(outShape) > 0) concatInto(b, inputs, out, tf.util.sizeFromShape(first.shape.slice(0, axis)));
    return out;
  };
}

function unpack(original: TF.KernelFunc): TF.KernelFunc {
  return (args) => {
    const { value } = args.inputs;
    if (value === undefined || !numeric(value)) return original(args);
    const axis = normalizeAxis(Number(args.attrs?.["axis"] ?? 0), value.shape.length);
    const parts = value.shape[axis]!;
    const outShape = value.shape.filter((_, i) => i !== axis);
    const outer = tf.util.sizeFromShape(value.shape.slice(0, axis));
    const inner = tf.util.sizeFromShape(value.shape.slice(axis + 1));
    const b = heap(args.backend);
    const outs = Array.from({ length: parts }, () => b.makeOutput(outShape, value.dtype));
    const src = b.typedArrayFromHeap(value);
    outs.forEach((out, p) => copyRuns(b, src, p * inner, parts * inner, b.typedArrayFromHeap(out), 0, inner, inner, outer));
    return outs;
  };
}

function splitV(original: TF.KernelFunc): TF.KernelFunc {
  return (args) => {
    const { x } = args.inputs;
    if (x === undefined || !numeric(x)) return original(args);
    const axis = tf.util.parseAxisParam(args.attrs?.["axis"] as number, x.shape)[0]!;
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, args.attrs?.["numOrSizeSplits"] as number | number[], axis);
    const outer = tf.util.sizeFromShape(x.shape.slice(0, axis));
    const inner = tf.util.sizeFromShape(x.shape.slice(axis + 1));
    const rowLength = x.shape[axis]! * inner;
    const b = heap(args.backend);
    const outs = sizes.map((s) => b.makeOutput(x.shape.map((d, i) => (i === axis ? s : d)), x.dtype));
    const src = b.typedArrayFromHeap(x);
    let offset = 0;
    outs.forEach((out, k) => {
      const width = sizes[k]! * inner;
      if (width > 0) copyRuns(b, src, offset, rowLength, b.typedArrayFromHeap(out), 0, width, width, outer);
      offset += width;
    });
    return outs;
  };
}

/** Calls `visit` with every index over `counts`, in row-major order (the last axis fastest). */
function forEachIndex(counts: number[], visit: (index: readonly number[]) => void): void {
  const index = new Array<number>(counts.length).fill(0);
  for (let call = 0, calls = tf.util.sizeFromShape(counts); call < calls; call++) {
    visit(index);
    for (let i = counts.length - 1; i >= 0; i--) {
      if (++index[i]! < counts[i]!) break;
      index[i] = 0;
    }
  }
}

const override = (kernelName: string, name: string, wrap: (original: TF.KernelFunc) => TF.KernelFunc): KernelOverride => ({
  name: `wasm:${kernelName}/${name}`,
  kernelName,
  backendName: "wasm",
  wrap,
});

/**
 * Slice as runs: trailing axes taken whole merge into the innermost partial one, whose slice is
 * one run per combination of the outer indices (strided copyRuns calls, below).
 * The shipped kernel copies one `subarray` + `set` per innermost row (a sequence's key columns:
 * 163,840 rows at batch 8,192).
 */
function slice(original: TF.KernelFunc): TF.KernelFunc {
  return (args) => {
    const { x } = args.inputs;
    if (x === undefined || !numeric(x) || x.shape.length === 0) return original(args);
    const params = tf.slice_util.parseSliceParams(x as tf.Tensor, args.attrs?.["begin"] as number[], args.attrs?.["size"] as number[]);
    const begin = params[0]!;
    const size = params[1]!;
    const b = heap(args.backend);
    const out = b.makeOutput(size, x.dtype);
    if (tf.util.sizeFromShape(size) === 0) return out;
    const shape = x.shape;
    // Merge trailing axes taken whole: run = size[k]·inner elements, starting begin[k]·inner into axis k.
    let k = shape.length - 1;
    let inner = 1;
    while (k > 0 && begin[k] === 0 && size[k] === shape[k]) inner *= shape[k--]!;
    const run = size[k]! * inner;
    const strides = shape.map((_, i) => tf.util.sizeFromShape(shape.slice(i + 1)));
    const src = b.typedArrayFromHeap(x);
    const dst = b.typedArrayFromHeap(out);
    if (k === 0) {
      copyRuns(b, src, begin[0]! * strides[0]!, run, dst, 0, run, run, 1);
      return out;
    }
    // Runs sit strides[k−1] apart along axis k−1 and on across the axes before it while the axes
    // after those are taken whole: axes first…k−1 are one copyRuns call, the axes before it walked
    // (DIN's keys, [B, L, 16] → [B, L, 8]: one call of B·L runs, not B calls of L).
    const last = k - 1;
    let first = last;
    let runs = size[last]!;
    while (first > 0 && begin[first] === 0 && size[first] === shape[first]) runs *= size[--first]!;
    let to = 0;
    forEachIndex(size.slice(0, first), (index) => {
      let from = begin[k]! * inner + begin[first]! * strides[first]!;
      index.forEach((j, i) => (from += (begin[i]! + j) * strides[i]!));
      copyRuns(b, src, from, strides[last]!, dst, to, run, run, runs);
      to += run * runs;
    });
    return out;
  };
}

/**
 * Transpose that keeps the last axis last (FiBiNet's [B, F, E] ↔ [F, B, E]) as runs of the last
 * axis: the longest output axis before the last is one copyRuns call (its input and output strides
 * between runs), the others are walked with an index counter — 21 calls of 1,024 runs for [21,
 * 1024, 8] → [1024, 21, 8], where walking the first axis made 1,024 calls of 21 runs too short for
 * the SIMD copy. tfjs-backend-wasm's kernel moves element by element through a generic strided loop.
 * Other permutations go to the original kernel.
 */
function transpose(original: TF.KernelFunc): TF.KernelFunc {
  return (args) => {
    const { x } = args.inputs;
    const perm = args.attrs?.["perm"] as number[] | undefined;
    const rank = x?.shape.length ?? 0;
    if (x === undefined || perm === undefined || !numeric(x) || rank < 3 || perm[rank - 1] !== rank - 1) return original(args);
    const shape = x.shape;
    const outShape = perm.map((p) => shape[p]!);
    const b = heap(args.backend);
    const out = b.makeOutput(outShape, x.dtype);
    if (tf.util.sizeFromShape(outShape) === 0) return out;
    const run = shape[rank - 1]!;
    const strides = shape.map((_, i) => tf.util.sizeFromShape(shape.slice(i + 1)));
    const outStrides = outShape.map((_, i) => tf.util.sizeFromShape(outShape.slice(i + 1)));
    const src = b.typedArrayFromHeap(x);
    const dst = b.typedArrayFromHeap(out);
    let axis = 0;
    for (let i = 1; i < rank - 1; i++) if (outShape[i]! > outShape[axis]!) axis = i;
    const walked = outShape.slice(0, rank - 1).flatMap((_, i) => (i === axis ? [] : [i]));
    forEachIndex(
      walked.map((i) => outShape[i]!),
      (index) => {
        let from = 0;
        let to = 0;
        index.forEach((j, k) => {
          from += j * strides[perm[walked[k]!]!]!;
          to += j * outStrides[walked[k]!]!;
        });
        copyRuns(b, src, from, strides[perm[axis]!]!, dst, to, outStrides[axis]!, run, outShape[axis]!);
      },
    );
    return out;
  };
}

/** The output of a kernel that need not move anything: `x`'s data, reference-counted, under a new tensor. */
export function sharedData(backend: object, x: TF.TensorInfo): TF.TensorInfo {
  (backend as { incRef(dataId: TF.DataId): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/**
 * Identity without a copy: the output shares the input's data, reference-counted, as the cpu
 * backend's Identity and the wasm backend's own Reshape do. tfjs's engine runs Identity to save
 * every input a gradient needs (engine.clone, when saved-tensors.ts does not stand in for it).
 */
function identity(original: TF.KernelFunc): TF.KernelFunc {
  return (args) => {
    const { x } = args.inputs;
    if (x === undefined || x.dtype === "string") return original(args);
    return sharedData(args.backend, x);
  };
}

/**
 * Cast to the dtype a tensor already has, without a copy (as Identity). tfjs's gradients cast what
 * they multiply by to float32 whatever its dtype (Multiply's and RealDiv's, the sigmoid cross
 * entropy's), and wasm's Cast copies even then, dozens of times per training step of some models.
 */
function cast(original: TF.KernelFunc): TF.KernelFunc {
  return (args) => {
    const { x } = args.inputs;
    const { dtype } = args.attrs as { dtype?: TF.DataType };
    if (x === undefined || x.dtype !== dtype || x.dtype === "string") return original(args);
    return sharedData(args.backend, x);
  };
}

export const wasmCopyOverrides: readonly KernelOverride[] = [
  override("GatherV2", "js-rows", gatherRows),
  override("Concat", "js-runs", concat),
  override("Pack", "js-runs", pack),
  override("Unpack", "js-runs", unpack),
  override("SplitV", "js-runs", splitV),
  override("Slice", "js-runs", slice),
  override("Transpose", "runs", transpose),
  override("Identity", "shared-data", identity),
  override("Cast", "same-dtype-shared", cast),
];
