/**
 * wasm Multiply, Add, Sub and RealDiv where one operand repeats along the rows or the columns of the
 * other: a per-channel value ([B, L, C] ⊕ [C], Dice's α and statistics), a value per row ([N, C] ·
 * [N, 1], gates and attention scores), a row per block ([B, L, D] ⊕ [B, 1, D], DIN's query with
 * its keys), a scalar. tfjs-backend-wasm 4.22 runs any broadcast through its generic strided loop,
 * two to three times the time of the same operation on equal shapes (docs/performance.md, "Kernel
 * overrides"); broadcast-simd.wat works four values at a time against a row of values per block or
 * one value per row. Each result is one float32 operation, so the bits are tfjs's. Equal shapes,
 * other broadcasts (both operands repeated, a middle axis) and other dtypes go to the original
 * kernel.
 */
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../tf.ts";
import { WASM_BASE64 } from "./broadcast-simd.wasm.ts";
import type { KernelOverride } from "./types.ts";
import { heapContext } from "./wasm-module.ts";

/** broadcast-simd.wat's exports (arguments: an op code, byte offsets into the heap, then counts). */
interface BroadcastPasses {
  byRow(op: number, a: number, b: number, out: number, outer: number, rows: number, width: number): void;
  byColumn(op: number, a: number, b: number, out: number, rows: number, width: number): void;
  mulByRow(a: number, b: number, out: number, outer: number, rows: number, width: number): void;
  mulByColumn(a: number, b: number, out: number, rows: number, width: number): void;
}

/**
 * How the repeated values line up: row: out[o][r][c] = x[o][r][c] ⊕ f[o][c] (one row of values per
 * block of rows; outer 1: one row for all); column: out[r][c] = x[r][c] ⊕ f[r].
 */
export type BroadcastPlan = { mode: "row"; outer: number; rows: number; width: number } | { mode: "column"; rows: number; width: number };

/**
 * The plan for values of shape `small` broadcast to `shape`: rows when small is `shape` with ones on
 * a run of axes that does not reach the last (a row of values per block of rows), a column when
 * the ones are its last axes (a scalar is a column of one value); undefined for any other broadcast.
 */
export function broadcastPlan(shape: readonly number[], small: readonly number[]): BroadcastPlan | undefined {
  if (small.length > shape.length) return undefined;
  const rank = shape.length;
  const padded = [...new Array<number>(rank - small.length).fill(1), ...small];
  if (padded.some((d, i) => d !== shape[i] && d !== 1)) return undefined;
  // The repeated axes: where the values have 1 and the output more (axes of size 1 in both count either way).
  const repeated = padded.map((d, i) => d !== shape[i]);
  const first = repeated.indexOf(true);
  const last = repeated.lastIndexOf(true);
  if (first < 0 || repeated.slice(first, last + 1).some((r, i) => !r && shape[first + i] !== 1)) return undefined;
  const [outer, rows, width] = [shape.slice(0, first), shape.slice(first, last + 1), shape.slice(last + 1)].map(tf.util.sizeFromShape) as [number, number, number];
  return width === 1 ? { mode: "column", rows: outer, width: rows } : { mode: "row", outer, rows, width };
}

/** broadcast-simd.wat's operation codes of its switched loops: x ⊕ f, and f ⊕ x where the order matters (Multiply has loops of its own). */
const OPS = {
  Multiply: undefined,
  Add: { op: 0, reversed: 0 },
  Sub: { op: 1, reversed: 2 },
  RealDiv: { op: 3, reversed: 4 },
} as const;

type KernelName = keyof typeof OPS;

/** The override's kernelFunc for `kernelName` around `original`. */
export function broadcastKernel(kernelName: KernelName, original: TF.KernelFunc): TF.KernelFunc {
  return (args) => {
    const { a, b } = args.inputs;
    if (!a || !b || a.dtype !== "float32" || b.dtype !== "float32") return original(args);
    const shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const aFull = tf.util.arraysEqual(a.shape, shape);
    const bFull = tf.util.arraysEqual(b.shape, shape);
    // x: the operand of the output's shape; f: the repeated one (first for a reversed operation).
    const codes = OPS[kernelName];
    const [x, f, op] = aFull && !bFull ? [a, b, codes?.op ?? 0] : bFull && !aFull ? [b, a, codes?.reversed ?? 0] : [undefined, undefined, 0];
    const heap = heapContext<BroadcastPasses>(WASM_BASE64, args.backend);
    const plan = x && f && heap && tf.util.sizeFromShape(shape) > 0 ? broadcastPlan(shape, f.shape) : undefined;
    if (!x || !f || !heap || !plan) return original(args);
    const out = heap.b.makeOutput(shape, "float32");
    const simd = heap.passes;
    const [xAt, fAt, outAt] = [heap.at(x), heap.at(f), heap.at(out)];
    // Multiply has loops of its own (no switch per four values: 1.3x faster; it commutes).
    if (kernelName === "Multiply" && plan.mode === "row") simd.mulByRow(xAt, fAt, outAt, plan.outer, plan.rows, plan.width);
    else if (kernelName === "Multiply") simd.mulByColumn(xAt, fAt, outAt, plan.rows, plan.width);
    else if (plan.mode === "row") simd.byRow(op, xAt, fAt, outAt, plan.outer, plan.rows, plan.width);
    else simd.byColumn(op, xAt, fAt, outAt, plan.rows, plan.width);
    return out;
  };
}

export const wasmBroadcastOverrides: readonly KernelOverride[] = (Object.keys(OPS) as KernelName[]).map((kernelName) => ({
  name: `wasm:${kernelName}/broadcast-simd`,
  kernelName,
  backendName: "wasm",
  wrap: (original: TF.KernelFunc) => broadcastKernel(kernelName, original),
}));
