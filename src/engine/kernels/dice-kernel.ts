/**
 * DIN's Dice activation in training mode as two kernels of its own on wasm (dice-simd.wat): `MktDice`
 * (forward, with the batch moments) and `MktDiceGrad` (its gradient). Composed from tfjs ops, Dice
 * with its masked batch moments is ~20 elementwise kernels forward and ~40 backward over the whole
 * [rows, channels] input; here it is three passes forward and two backward, with exp evaluated
 * in SIMD (docs/performance.md, "Dice").
 *
 * MktDice: inputs x [rows, n] (n a multiple of 4), alpha [n], w [rows] (row weights: 1 for a real
 * position, 0 for padding); attr epsilon. Outputs y [rows, n], mean [n], variance [n] (the batch
 * moments, for the moving averages). The formulas are in dice-simd.wat. Its gradient (MktDiceGrad)
 * gives ∂L/∂x and ∂L/∂α, through the batch moments as batch normalization does; w gets none.
 *
 * The engine's diceTrain (dice.ts) runs these where the active backend has them and the layer's
 * tfjs ops otherwise; prediction (moving moments) always runs tfjs ops, so an exported model needs
 * no kernel of mkt's.
 */
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../tf.ts";
import { WASM_BASE64 } from "./dice-simd.wasm.ts";
import { heapKernelContext, type WasmHeapBackend } from "./wasm-module.ts";
import type { KernelAddition } from "./types.ts";

export const DICE_KERNEL = "MktDice";
export const DICE_GRAD_KERNEL = "MktDiceGrad";

export interface DiceAttrs {
  epsilon: number;
}

interface DicePasses {
  weightedSums(x: number, w: number, rows: number, n: number, acc: number): number;
  weightedSquares(x: number, w: number, rows: number, n: number, mean: number, acc: number): void;
  sigmoidPass(x: number, rows: number, n: number, params: number, out: number, asOutput: number): void;
  gradSums(dy: number, x: number, p: number, rows: number, n: number, params: number, acc: number): void;
  gradInput(dy: number, x: number, w: number, rows: number, n: number, params: number, dx: number): void;
}

/** Whether the kernels take x: float32 [rows, n] with n a multiple of 4 (the SIMD passes' unit). */
export function diceKernelShape(shape: readonly number[]): boolean {
  return shape.length === 2 && shape[1]! % 4 === 0 && shape[1]! > 0;
}

/** Scratch on the heap: 3n float64 sums, then the six per-channel float32 vectors (params). */
class Scratch {
  readonly info: TF.TensorInfo;
  constructor(
    private readonly b: WasmHeapBackend,
    private readonly n: number,
  ) {
    this.info = b.makeOutput([12 * n], "float32");
  }
  get acc(): number {
    return this.b.getMemoryOffset(this.info.dataId);
  }
  get params(): number {
    return this.acc + 24 * this.n;
  }
  /** Views: take them after the last makeOutput (growing the heap detaches older ones). */
  sums(): Float64Array {
    return new Float64Array(this.b.typedArrayFromHeap(this.info).buffer, this.acc, 3 * this.n);
  }
  paramViews(): Float32Array[] {
    const heap = this.b.typedArrayFromHeap(this.info).buffer;
    return Array.from({ length: 6 }, (_, k) => new Float32Array(heap, this.params + 4 * k * this.n, this.n));
  }
  dispose(): void {
    this.b.disposeData(this.info.dataId);
  }
}

/** mean, inv = 1/sqrt(variance + ε), α and 1 − α into the params vectors, as float32. */
function channelParams(params: Float32Array[], mean: Float32Array, variance: Float32Array, alpha: Float32Array, epsilon: number): void {
  const [m, inv, a, oneMinusA] = params as [Float32Array, Float32Array, Float32Array, Float32Array];
  const eps = Math.fround(epsilon);
  for (let c = 0; c < m.length; c++) {
    m[c] = mean[c]!;
    inv[c] = 1 / Math.fround(Math.sqrt(Math.fround(variance[c]! + eps)));
    a[c] = alpha[c]!;
    oneMinusA[c] = 1 - alpha[c]!;
  }
}

function checked(inputs: TF.NamedTensorInfoMap, names: readonly string[], kernel: string): TF.TensorInfo[] {
  return names.map((name) => {
    const t = inputs[name];
    if (t === undefined || t.dtype !== "float32") throw new Error(`${kernel}: needs ${names.join(", ")} (float32)`);
    return t;
  });
}

const wasmDice: TF.KernelFunc = ({ inputs, backend, attrs }) => {
  const [x, alpha, w] = checked(inputs, ["x", "alpha", "w"], DICE_KERNEL) as [TF.TensorInfo, TF.TensorInfo, TF.TensorInfo];
  if (!diceKernelShape(x.shape)) throw new Error(`${DICE_KERNEL}: x must be [rows, n] with n a multiple of 4, got [${x.shape.join(", ")}]`);
  const [rows, n] = x.shape as [number, number];
  const { b, passes, at } = heapKernelContext<DicePasses>(DICE_KERNEL, WASM_BASE64, backend);
  const { epsilon } = attrs as unknown as DiceAttrs;
  const [y, mean, variance] = [b.makeOutput([rows, n], "float32"), b.makeOutput([n], "float32"), b.makeOutput([n], "float32")];
  const scratch = new Scratch(b, n);
  const count = Math.max(passes.weightedSums(at(x), at(w), rows, n, scratch.acc), 1);
  const meanValues = b.typedArrayFromHeap(mean);
  scratch.sums().subarray(0, n).forEach((sum, c) => (meanValues[c] = sum / count));
  passes.weightedSquares(at(x), at(w), rows, n, at(mean), scratch.acc);
  const varianceValues = b.typedArrayFromHeap(variance);
  scratch.sums().subarray(0, n).forEach((sum, c) => (varianceValues[c] = sum / count));
  channelParams(scratch.paramViews(), b.typedArrayFromHeap(mean), varianceValues, b.typedArrayFromHeap(alpha), epsilon);
  passes.sigmoidPass(at(x), rows, n, scratch.params, at(y), 1);
  scratch.dispose();
  return [y, mean, variance];
};

const wasmDiceGrad: TF.KernelFunc = ({ inputs, backend, attrs }) => {
  const [dy, x, alpha, w, mean, variance] = checked(inputs, ["dy", "x", "alpha", "w", "mean", "variance"], DICE_GRAD_KERNEL) as [
    TF.TensorInfo, TF.TensorInfo, TF.TensorInfo, TF.TensorInfo, TF.TensorInfo, TF.TensorInfo,
  ];
  if (!diceKernelShape(x.shape)) throw new Error(`${DICE_GRAD_KERNEL}: x must be [rows, n] with n a multiple of 4`);
  const [rows, n] = x.shape as [number, number];
  const { b, passes, at } = heapKernelContext<DicePasses>(DICE_GRAD_KERNEL, WASM_BASE64, backend);
  const { epsilon } = attrs as unknown as DiceAttrs;
  const [dx, dalpha] = [b.makeOutput([rows, n], "float32"), b.makeOutput([n], "float32")];
  const scratch = new Scratch(b, n);
  const weights = b.typedArrayFromHeap(w);
  let count = 0;
  for (let r = 0; r < rows; r++) count += weights[r]!;
  count = Math.max(count, 1);
  const params = scratch.paramViews();
  channelParams(params, b.typedArrayFromHeap(mean), b.typedArrayFromHeap(variance), b.typedArrayFromHeap(alpha), epsilon);
  passes.sigmoidPass(at(x), rows, n, scratch.params, at(dx), 0);
  passes.gradSums(at(dy), at(x), at(dx), rows, n, scratch.params, scratch.acc);
  const sums = scratch.sums();
  const [, inv, , , k1, k2] = params as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
  const dalphaValues = b.typedArrayFromHeap(dalpha);
  for (let c = 0; c < n; c++) {
    dalphaValues[c] = sums[c]!;
    k1[c] = (inv[c]! * sums[n + c]!) / count;
    k2[c] = (inv[c]! * sums[2 * n + c]!) / count;
  }
  passes.gradInput(at(dy), at(x), at(w), rows, n, scratch.params, at(dx));
  scratch.dispose();
  return [dx, dalpha];
};

/** MktDice's gradient: ∂L/∂x and ∂L/∂α by MktDiceGrad (only y's gradient flows: the moments feed the moving averages, not the loss). */
const diceGradient: TF.GradConfig = {
  kernelName: DICE_KERNEL,
  inputsToSave: ["x", "alpha", "w"],
  outputsToSave: [false, true, true],
  gradFunc: (dys, saved, attrs) => {
    const [x, alpha, w, mean, variance] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
    const dy = (dys as tf.Tensor[])[0]!;
    const [dx, dalpha] = tf.engine().runKernel(DICE_GRAD_KERNEL, { dy, x, alpha, w, mean, variance }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
    return { x: () => dx!, alpha: () => dalpha!, w: () => tf.zerosLike(w) };
  },
};

/** The kernels (and MktDice's gradient), registered and removed through the kernel registry. */
export const diceKernels: readonly KernelAddition[] = [
  { name: `wasm:${DICE_KERNEL}/simd`, config: { kernelName: DICE_KERNEL, backendName: "wasm", kernelFunc: wasmDice }, gradient: diceGradient },
  { name: `wasm:${DICE_GRAD_KERNEL}/simd`, config: { kernelName: DICE_GRAD_KERNEL, backendName: "wasm", kernelFunc: wasmDiceGrad } },
];
