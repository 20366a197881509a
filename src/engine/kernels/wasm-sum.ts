/**
 * wasm Sum over leading axes (a bias gradient: dY [batch, n] summed over the batch).
 *
 * tfjs-backend-wasm 4.22 reduces only innermost axes, so for leading ones it first transposes the
 * whole input (a full copy with strided reads), then sums rows: 12 of the 70 ms of a paper-size MLP
 * training step. Summing column-wise in place needs no copy: one sequential pass adding each row
 * into a running row of sums (in doubles). Any other reduction goes to the original kernel.
 */
import * as tf from "@tensorflow/tfjs";
import type { KernelOverride } from "./registry.ts";

interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
}

/** The number of leading axes `axis` names, when it names exactly axes 0…k−1 (k < rank); else 0. */
export function leadingAxes(axis: unknown, rank: number): number {
  const axes = (Array.isArray(axis) ? axis : [axis]).map((a) => (typeof a === "number" && a < 0 ? a + rank : a));
  if (!axes.every((a) => typeof a === "number")) return 0;
  const sorted = [...new Set(axes as number[])].sort((x, y) => x - y);
  return sorted.length < rank && sorted.every((a, i) => a === i) ? sorted.length : 0;
}

function sumLeading(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x } = args.inputs;
    const attrs = args.attrs ?? {};
    const k = x ? leadingAxes(attrs["axis"], x.shape.length) : 0;
    if (!x || x.dtype !== "float32" || k === 0) return original(args);
    const rows = x.shape.slice(0, k).reduce((p, d) => p * d, 1);
    const inner = x.shape.slice(k);
    const width = inner.reduce((p, d) => p * d, 1);
    const backend = args.backend as WasmHeapBackend;
    const out = backend.makeOutput(attrs["keepDims"] === true ? [...x.shape.slice(0, k).map(() => 1), ...inner] : inner, "float32");
    const src = backend.typedArrayFromHeap(x);
    const dst = backend.typedArrayFromHeap(out);
    const acc = new Float64Array(width);
    for (let r = 0; r < rows; r++) {
      for (let c = 0, s = r * width; c < width; c++) acc[c]! += src[s + c]!;
    }
    dst.set(acc);
    return out;
  };
}

export const wasmSumOverride: KernelOverride = {
  name: "wasm:Sum/leading-axes",
  kernelName: tf.Sum,
  backendName: "wasm",
  wrap: sumLeading,
};
