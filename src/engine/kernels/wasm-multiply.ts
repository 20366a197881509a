/**
 * wasm Multiply where one operand repeats along the rows or the columns of the other: a per-channel
 * factor ([B, L, C] · [C], Dice's α and statistics), a per-row weight ([N, C] · [N, 1], gates and
 * attention scores), a row per block ([B, L, D] · [B, 1, D], DIN's query times its keys), a scalar. tfjs-backend-wasm 4.22 runs any broadcast through its generic
 * strided loop, two to three times the time of a multiply of equal shapes (docs/performance.md,
 * "Kernel overrides"); mul-simd.wat multiplies four values at a time against a row of factors
 * or one factor per row. Each product is one float32 multiplication, so the bits are tfjs's. Equal
 * shapes, other broadcasts (both operands repeated, a middle axis) and other dtypes go to the
 * original kernel.
 */
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../tf.ts";
import { WASM_BASE64 } from "./mul-simd.wasm.ts";
import type { KernelOverride } from "./types.ts";
import { heapModuleExports, wasmHeapMemory, type WasmHeapBackend } from "./wasm-module.ts";

type SimdMulByRow = (a: number, b: number, out: number, outer: number, rows: number, width: number) => void;
type SimdMulByColumn = (a: number, b: number, out: number, rows: number, width: number) => void;

/**
 * How the factors repeat: row: out[o][r][c] = x[o][r][c]·f[o][c] (one row of factors per block of
 * rows; outer 1: one row for all); column: out[r][c] = x[r][c]·f[r].
 */
export type BroadcastPlan = { mode: "row"; outer: number; rows: number; width: number } | { mode: "column"; rows: number; width: number };

const product = (dims: readonly number[]): number => dims.reduce((n, d) => n * d, 1);
const sameShape = (x: readonly number[], y: readonly number[]): boolean => x.length === y.length && x.every((d, i) => d === y[i]);

/**
 * The plan for factors of shape `small` broadcast to `shape`: rows when small is `shape` with ones on
 * a run of axes that does not reach the last (a row of factors per block of rows), a column when
 * the ones are its last axes (a scalar is a column of one factor); undefined for any other broadcast.
 */
export function broadcastPlan(shape: readonly number[], small: readonly number[]): BroadcastPlan | undefined {
  if (small.length > shape.length) return undefined;
  const rank = shape.length;
  const padded = [...new Array<number>(rank - small.length).fill(1), ...small];
  // The repeated axes: where the factors have 1 and the output more (axes of size 1 in both count either way).
  const repeated = padded.map((d, i) => d !== shape[i]);
  if (padded.some((d, i) => d !== shape[i] && d !== 1)) return undefined;
  const first = repeated.indexOf(true);
  const last = repeated.lastIndexOf(true);
  if (first < 0 || repeated.slice(first, last + 1).some((r, i) => !r && shape[first + i] !== 1)) return undefined;
  const [outer, rows, width] = [product(shape.slice(0, first)), product(shape.slice(first, last + 1)), product(shape.slice(last + 1))];
  return width === 1 ? { mode: "column", rows: outer, width: rows } : { mode: "row", outer, rows, width };
}

/** The override's kernelFunc around `original`. */
export function multiplyBroadcast(original: TF.KernelFunc): TF.KernelFunc {
  return (args) => {
    const { a, b } = args.inputs;
    if (!a || !b || a.dtype !== "float32" || b.dtype !== "float32") return original(args);
    const shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const aFull = sameShape(a.shape, shape);
    const bFull = sameShape(b.shape, shape);
    // Multiplication commutes bit for bit, so the full operand may be either.
    const [full, factors] = aFull && !bFull ? [a, b] : bFull && !aFull ? [b, a] : [undefined, undefined];
    const backend = args.backend as WasmHeapBackend;
    const memory = wasmHeapMemory(backend);
    const plan = full && factors && memory && product(shape) > 0 ? broadcastPlan(shape, factors.shape) : undefined;
    if (!full || !factors || !memory || !plan) return original(args);
    const out = backend.makeOutput(shape, "float32");
    const simd = heapModuleExports(WASM_BASE64, memory);
    const [x, f, o] = [full, factors, out].map((t) => backend.getMemoryOffset(t.dataId)) as [number, number, number];
    if (plan.mode === "row") (simd.mulByRow as SimdMulByRow)(x, f, o, plan.outer, plan.rows, plan.width);
    else (simd.mulByColumn as SimdMulByColumn)(x, f, o, plan.rows, plan.width);
    return out;
  };
}

export const wasmMultiplyOverride: KernelOverride = {
  name: "wasm:Multiply/broadcast-simd",
  kernelName: "Multiply",
  backendName: "wasm",
  wrap: multiplyBroadcast,
};
