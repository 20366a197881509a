/**
 * `MktAdam`: one Adam update of a variable in a single pass, as a kernel of its own for the wasm
 * and cpu backends (the engine's adamStep runs it when the active backend has it, and the same
 * math in tfjs ops otherwise). tfjs's Adam runs ~12 elementwise kernels per variable, each
 * allocating an output.
 *
 * Inputs: param, m, v, grad (float32, same shape). Attrs: learningRate, beta1, beta2, epsilon,
 * correction1 = 1 − β1^t, correction2 = 1 − β2^t. Outputs: [param', m', v'] with
 *   m' = β1·m + (1 − β1)·g,  v' = β2·v + (1 − β2)·g²,
 *   param' = param − lr · (m' / c1) / (√(v' / c2) + ε)          (tfjs's formula).
 *
 * wasm (`wasm:MktAdam/simd`): adam-simd.wat on tfjs's heap (wasm-module.ts), f32x4 with a scalar
 * tail. Every operation rounds to float32 (the JS loop computes in doubles and rounds once): one
 * step agrees with it within 2^-22 relative to 1 + |value| (test/kernels-adam.test.ts). It writes
 * three new outputs, never the inputs' buffers: XNNPACK caches each weight matrix packed, keyed by
 * its tensor, so a weight changed in place would be multiplied in its old packing (the test "a
 * weight Adam updated is multiplied with its new values"). The JS loop (wasmAdamJs) is the
 * fallback where the heap is not reachable.
 *
 * cpu (`cpu:MktAdam/fused`): the JS loop (adamUpdate) into three new arrays.
 */
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../tf.ts";
import { WASM_BASE64 } from "./adam-simd.wasm.ts";
import { heapModuleExports, wasmHeapMemory, type WasmHeapBackend, type WasmMemory } from "./wasm-module.ts";
import type { KernelAddition } from "./types.ts";


export const ADAM_KERNEL = "MktAdam";

export interface AdamAttrs {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  correction1: number;
  correction2: number;
}

type F32 = Float32Array;

/** The update over plain arrays (shared by both backends' kernels). */
export function adamUpdate(param: F32, m: F32, v: F32, grad: F32, out: { param: F32; m: F32; v: F32 }, a: AdamAttrs): void {
  const { learningRate, beta1, beta2, epsilon, correction1, correction2 } = a;
  const g1 = 1 - beta1;
  const g2 = 1 - beta2;
  const step = learningRate / correction1; // lr · (m'/c1) = (lr/c1) · m'
  const inverse2 = 1 / correction2;
  for (let i = 0; i < param.length; i++) {
    const g = grad[i]!;
    const mi = beta1 * m[i]! + g1 * g;
    const vi = beta2 * v[i]! + g2 * g * g;
    out.m[i] = mi;
    out.v[i] = vi;
    out.param[i] = param[i]! - (step * mi) / (Math.sqrt(vi * inverse2) + epsilon);
  }
}


interface CpuBackend {
  data: { get(id: TF.DataId): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): TF.TensorInfo;
}

function inputsOf(inputs: TF.NamedTensorInfoMap): [TF.TensorInfo, TF.TensorInfo, TF.TensorInfo, TF.TensorInfo] {
  const { param, m, v, grad } = inputs;
  if (param === undefined || m === undefined || v === undefined || grad === undefined) throw new Error(`${ADAM_KERNEL}: needs param, m, v and grad`);
  for (const t of [m, v, grad]) {
    if (t.dtype !== "float32" || param.dtype !== "float32" || t.shape.join() !== param.shape.join()) throw new Error(`${ADAM_KERNEL}: inputs must be float32 of one shape`);
  }
  return [param, m, v, grad];
}

type SimdAdam = (
  p: number, m: number, v: number, g: number, pOut: number, mOut: number, vOut: number, n: number,
  beta1: number, oneMinusBeta1: number, beta2: number, oneMinusBeta2: number, step: number, inverse2: number, epsilon: number,
) => void;

/** The SIMD update (adam-simd.wat) bound to `memory` (compiled once, instantiated once per memory: wasm-module.ts). */
export function simdAdamFor(memory: WasmMemory): SimdAdam {
  return heapModuleExports(WASM_BASE64, memory).adam as SimdAdam;
}

/** The float32 scalars the SIMD loop takes, each computed in doubles first as adamUpdate does. */
export function simdScalars(a: AdamAttrs): [number, number, number, number, number, number, number] {
  return [a.beta1, 1 - a.beta1, a.beta2, 1 - a.beta2, a.learningRate / a.correction1, 1 / a.correction2, a.epsilon];
}

/**
 * The wasm kernel: the SIMD loop of adam-simd.wat run by an instance of its own on tfjs's heap,
 * into three new outputs. The plain JS loop where the heap is not reachable.
 */
const wasmAdam: TF.KernelFunc = ({ inputs, backend, attrs }) => {
  const [param, m, v, grad] = inputsOf(inputs);
  const b = backend as unknown as WasmHeapBackend;
  const a = attrs as unknown as AdamAttrs;
  const memory = wasmHeapMemory(b);
  if (memory === undefined) return wasmAdamJs({ inputs, backend, attrs });
  const n = tf.util.sizeFromShape(param.shape);
  const [paramOut, mOut, vOut] = [b.makeOutput(param.shape, "float32"), b.makeOutput(param.shape, "float32"), b.makeOutput(param.shape, "float32")];
  // Byte offsets, not views: they stay valid when an allocation grows the heap.
  const at = (t: TF.TensorInfo) => b.getMemoryOffset(t.dataId);
  simdAdamFor(memory)(at(param), at(m), at(v), at(grad), at(paramOut), at(mOut), at(vOut), n, ...simdScalars(a));
  return [paramOut, mOut, vOut];
};

/** The wasm kernel before the SIMD one: adamUpdate over Float32Array views of the heap (kept as the fallback and for benchmarks). */
export const wasmAdamJs: TF.KernelFunc = ({ inputs, backend, attrs }) => {
  const [param, m, v, grad] = inputsOf(inputs);
  const b = backend as unknown as WasmHeapBackend;
  const outs = [b.makeOutput(param.shape, "float32"), b.makeOutput(param.shape, "float32"), b.makeOutput(param.shape, "float32")] as const;
  // Views only after every makeOutput: growing the wasm heap detaches earlier ones.
  const view = (t: TF.TensorInfo) => b.typedArrayFromHeap(t);
  adamUpdate(view(param), view(m), view(v), view(grad), { param: view(outs[0]), m: view(outs[1]), v: view(outs[2]) }, attrs as unknown as AdamAttrs);
  return [...outs];
};

const cpuAdam: TF.KernelFunc = ({ inputs, backend, attrs }) => {
  const [param, m, v, grad] = inputsOf(inputs);
  const b = backend as CpuBackend;
  const values = (t: TF.TensorInfo) => b.data.get(t.dataId).values as Float32Array;
  const n = values(param).length;
  const out = { param: new Float32Array(n), m: new Float32Array(n), v: new Float32Array(n) };
  adamUpdate(values(param), values(m), values(v), values(grad), out, attrs as unknown as AdamAttrs);
  return [b.makeTensorInfo(param.shape, "float32", out.param), b.makeTensorInfo(param.shape, "float32", out.m), b.makeTensorInfo(param.shape, "float32", out.v)];
};

/** The kernel configs, registered (and removed) through the kernel registry. */
export const adamKernels: readonly KernelAddition[] = [
  { name: `wasm:${ADAM_KERNEL}/simd`, config: { kernelName: ADAM_KERNEL, backendName: "wasm", kernelFunc: wasmAdam } },
  { name: `cpu:${ADAM_KERNEL}/fused`, config: { kernelName: ADAM_KERNEL, backendName: "cpu", kernelFunc: cpuAdam } },
];
