/**
 * ReLU's gradient in one pass: the kernel `MktReluGrad` (wasm, relu-simd.wat) and the gradient
 * override `grad:Relu/MktReluGrad` that makes tfjs's Relu gradient run it; also the in-place ReLU
 * and bias-plus-ReLU passes the OpenBLAS _FusedMatMul runs on its output (reluInPlace, addBiasInPlace).
 *
 * tfjs's Relu gradient, mul(dy, cast(step(x))), is three kernels and two intermediate tensors.
 * MktReluGrad computes the same product of the same factors in one SIMD pass (step(x): 1 for x > 0,
 * NaN for NaN, else 0), hence the same bits (test/kernels-dense.test.ts). The override runs it only
 * where the active backend has it and dy and x are float32 of one shape, else tfjs's gradFunc; its
 * own gradient is what tfjs's ops give: d/d(dy) = MktReluGrad(ddy, x), d/dx = 0. Dense's fused
 * kernel gets its ReLU gradient from fused-matmul-grad.ts (the same kernel, on its output).
 */
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../tf.ts";
import { WASM_BASE64 } from "./relu-simd.wasm.ts";
import { heapContext, type WasmHeapBackend } from "./wasm-module.ts";
import { sumRowsJs } from "./wasm-sum.ts";
import type { KernelAddition } from "./types.ts";

export const RELU_GRAD_KERNEL = "MktReluGrad";
/**
 * MktReluGradSum(dy, x) → [dy · step(x), its sums over every axis but the last]: a Dense layer's
 * ReLU backward and its bias gradient in one pass (fused-matmul-grad.ts). The sums are float64 in
 * row order, rounded once: the same bits as the Sum override on the first output.
 */
export const RELU_GRAD_SUM_KERNEL = "MktReluGradSum";

/** relu-simd.wat's exports (arguments: byte offsets into the heap, then counts). */
interface ReluPasses {
  reluGrad(dy: number, x: number, out: number, n: number): void;
  reluGradSum(dy: number, x: number, out: number, acc: number, sums: number, rows: number, n: number): void;
  relu(x: number, out: number, n: number): void;
  addBias(out: number, bias: number, rows: number, n: number, relu: number): void;
}

/**
 * out[r][c] += bias[c] over rows × n float32 values of the wasm backend, in place, then ReLU if
 * `relu` (relu-simd.wat's addBias: the same bits as the Add kernel, then the Relu kernel). False,
 * touching nothing, where the heap is not reachable. For the OpenBLAS _FusedMatMul's fresh output.
 */
export function addBiasInPlace(backend: unknown, out: TF.TensorInfo, bias: TF.TensorInfo, rows: number, n: number, relu: boolean): boolean {
  const heap = heapContext<ReluPasses>(WASM_BASE64, backend);
  if (heap === undefined || out.dtype !== "float32" || bias.dtype !== "float32") return false;
  heap.passes.addBias(heap.at(out), heap.at(bias), rows, n, relu ? 1 : 0);
  return true;
}

/**
 * ReLU of a float32 tensor of the wasm backend, in place (relu-simd.wat's relu: the same bits as
 * tfjs-backend-wasm's Relu kernel). False, touching nothing, where the heap is not reachable.
 * For kernels that own the tensor they apply it to (the OpenBLAS _FusedMatMul's fresh output).
 */
export function reluInPlace(backend: unknown, t: TF.TensorInfo): boolean {
  const heap = heapContext<ReluPasses>(WASM_BASE64, backend);
  if (heap === undefined || t.dtype !== "float32") return false;
  heap.passes.relu(heap.at(t), heap.at(t), tf.util.sizeFromShape(t.shape));
  return true;
}

function inputsOf(inputs: TF.NamedTensorInfoMap): [TF.TensorInfo, TF.TensorInfo] {
  const { dy, x } = inputs;
  if (dy === undefined || x === undefined) throw new Error(`${RELU_GRAD_KERNEL}: needs dy and x`);
  if (dy.dtype !== "float32" || x.dtype !== "float32" || !tf.util.arraysEqual(dy.shape, x.shape)) throw new Error(`${RELU_GRAD_KERNEL}: dy and x must be float32 of one shape`);
  return [dy, x];
}

/** out = dy · step(x) over plain arrays: the JS fallback, and the reference the tests state the semantics with. */
export function reluGradJs(dy: Float32Array, x: Float32Array, out: Float32Array): void {
  for (let i = 0; i < out.length; i++) {
    const xi = x[i]!;
    out[i] = dy[i]! * (xi > 0 ? 1 : Number.isNaN(xi) ? xi : 0);
  }
}

const wasmReluGrad: TF.KernelFunc = ({ inputs, backend }) => {
  const [dy, x] = inputsOf(inputs);
  const b = backend as unknown as WasmHeapBackend;
  const out = b.makeOutput(x.shape, "float32");
  const heap = heapContext<ReluPasses>(WASM_BASE64, b);
  if (heap === undefined) {
    // Views after makeOutput: growing the heap detaches older ones.
    reluGradJs(b.typedArrayFromHeap(dy), b.typedArrayFromHeap(x), b.typedArrayFromHeap(out));
    return out;
  }
  heap.passes.reluGrad(heap.at(dy), heap.at(x), heap.at(out), tf.util.sizeFromShape(x.shape));
  return out;
};

const wasmReluGradSum: TF.KernelFunc = ({ inputs, backend }) => {
  const [dy, x] = inputsOf(inputs);
  if (x.shape.length === 0) throw new Error(`${RELU_GRAD_SUM_KERNEL}: needs rank ≥ 1`);
  const b = backend as unknown as WasmHeapBackend;
  const n = x.shape[x.shape.length - 1]!;
  const size = tf.util.sizeFromShape(x.shape);
  const rows = n === 0 ? 0 : size / n;
  const out = b.makeOutput(x.shape, "float32");
  const sums = b.makeOutput([n], "float32");
  const heap = heapContext<ReluPasses>(WASM_BASE64, b);
  if (heap === undefined) {
    // Views after makeOutput: growing the heap detaches older ones.
    const view = (t: TF.TensorInfo) => b.typedArrayFromHeap(t);
    reluGradJs(view(dy), view(x), view(out));
    sumRowsJs(view(out), view(sums), 1, rows, n);
    return [out, sums];
  }
  const acc = b.makeOutput([2 * n], "float32"); // scratch: n float64 sums
  const { passes, at } = heap;
  passes.reluGradSum(at(dy), at(x), at(out), at(acc), at(sums), rows, n);
  b.disposeData(acc.dataId);
  return [out, sums];
};

/** MktReluGrad's gradient: the one tfjs's mul(dy, cast(step(x))) has (step's is zero). */
const reluGradGradient: TF.GradConfig = {
  kernelName: RELU_GRAD_KERNEL,
  inputsToSave: ["x"],
  gradFunc: (ddy, saved) => {
    const [x] = saved;
    return {
      dy: () => tf.engine().runKernel(RELU_GRAD_KERNEL, { dy: ddy as tf.Tensor, x: x! }) as tf.Tensor,
      x: () => tf.zerosLike(x!),
    };
  },
};

/** MktReluGradSum's gradient: both outputs are linear in dy, d(out)/d(dy) = step(x) and the sums broadcast back over the rows. */
const reluGradSumGradient: TF.GradConfig = {
  kernelName: RELU_GRAD_SUM_KERNEL,
  inputsToSave: ["x"],
  gradFunc: (dys, saved) => {
    const [x] = saved;
    const [dOut, dSums] = dys as tf.Tensor[];
    return {
      dy: () => tf.engine().runKernel(RELU_GRAD_KERNEL, { dy: tf.add(dOut!, dSums!), x: x! }) as tf.Tensor,
      x: () => tf.zerosLike(x!),
    };
  },
};

/** The kernels (with their gradients), registered and removed through the kernel registry. */
export const reluGradKernels: readonly KernelAddition[] = [
  { name: `wasm:${RELU_GRAD_KERNEL}/simd`, config: { kernelName: RELU_GRAD_KERNEL, backendName: "wasm", kernelFunc: wasmReluGrad }, gradient: reluGradGradient },
  { name: `wasm:${RELU_GRAD_SUM_KERNEL}/simd`, config: { kernelName: RELU_GRAD_SUM_KERNEL, backendName: "wasm", kernelFunc: wasmReluGradSum }, gradient: reluGradSumGradient },
];

/** tfjs's Relu gradient with MktReluGrad in place of mul(dy, cast(step(x))) where the active backend has it. */
export function reluGradient(original: TF.GradConfig): TF.GradConfig {
  return {
    ...original,
    gradFunc: (dy, saved, attrs) => {
      const x = saved[0];
      const usable =
        !Array.isArray(dy) && x !== undefined && dy.dtype === "float32" && x.dtype === "float32" && tf.util.arraysEqual(dy.shape, x.shape) &&
        tf.getKernel(RELU_GRAD_KERNEL, tf.getBackend()) !== undefined;
      if (!usable) return original.gradFunc(dy, saved, attrs);
      return { x: () => tf.engine().runKernel(RELU_GRAD_KERNEL, { dy, x }) as tf.Tensor };
    },
  };
}
