/**
 * Products of every pair of fields as one kernel of mkt's on wasm (field-pairs-simd.wat):
 * `MktFieldPairs` gives out[b, p] = left[b, i] ⊙ right[b, j] for the pairs i < j in order, and its
 * gradient `MktFieldPairsGrad` both inputs' gradients in one pass. FiBiNet's bilinear interaction
 * composes these pairs from tfjs ops as two 0/1 selection products around transposes, then the
 * product (layers/bilinear.ts): six kernels over the batch forward, seven backward. The values are
 * the same bits as those ops'; so are the gradients where the ops' products are wasm's own (the same
 * float32 products, summed in the same order: field-pairs-simd.wat), while OpenBLAS sums them in an
 * order of its own (within a few ulps).
 *
 * MktFieldPairs: inputs left and right float32 [B, F, E] (F ≥ 2, E a multiple of 4); output
 * [B, F(F−1)/2, E]. MktFieldPairsGrad: inputs dy [B, F(F−1)/2, E], left, right; outputs
 * [∂L/∂left, ∂L/∂right].
 */
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../tf.ts";
import { WASM_BASE64 } from "./field-pairs-simd.wasm.ts";
import { heapKernelContext } from "./wasm-module.ts";
import type { KernelAddition } from "./types.ts";

export const FIELD_PAIRS_KERNEL = "MktFieldPairs";
export const FIELD_PAIRS_GRAD_KERNEL = "MktFieldPairsGrad";

interface FieldPairsPasses {
  pairs(left: number, right: number, out: number, batch: number, fields: number, dim: number): void;
  grad(left: number, right: number, dy: number, dleft: number, dright: number, batch: number, fields: number, dim: number): void;
}

/** Whether the kernel takes fields of this shape: [B, F, E] with F ≥ 2 and E a multiple of 4. */
export function fieldPairsShape(shape: readonly number[]): boolean {
  return shape.length === 3 && shape[1]! >= 2 && shape[2]! % 4 === 0 && shape[2]! > 0;
}

/** The passes read and write whole rows of E floats at offsets computed from left's shape: refuse any other. */
function checkShapes(kernelName: string, left: TF.TensorInfo, right: TF.TensorInfo): void {
  if (!fieldPairsShape(left.shape) || !tf.util.arraysEqual(left.shape, right.shape) || left.dtype !== "float32" || right.dtype !== "float32") {
    throw new Error(`${kernelName}: left and right must be float32 [B, F, E] alike with F ≥ 2 and E a multiple of 4, got [${left.shape.join(", ")}] and [${right.shape.join(", ")}]`);
  }
}

const wasmFieldPairs: TF.KernelFunc = (args) => {
  const { left, right } = args.inputs as { left: TF.TensorInfo; right: TF.TensorInfo };
  checkShapes(FIELD_PAIRS_KERNEL, left, right);
  const { b, passes, at } = heapKernelContext<FieldPairsPasses>(FIELD_PAIRS_KERNEL, WASM_BASE64, args.backend);
  const [batch, fields, dim] = left.shape as [number, number, number];
  const out = b.makeOutput([batch, (fields * (fields - 1)) / 2, dim], "float32");
  passes.pairs(at(left), at(right), at(out), batch, fields, dim);
  return out;
};

const wasmFieldPairsGrad: TF.KernelFunc = (args) => {
  const { dy, left, right } = args.inputs as { dy: TF.TensorInfo; left: TF.TensorInfo; right: TF.TensorInfo };
  checkShapes(FIELD_PAIRS_GRAD_KERNEL, left, right);
  const { b, passes, at } = heapKernelContext<FieldPairsPasses>(FIELD_PAIRS_GRAD_KERNEL, WASM_BASE64, args.backend);
  const [batch, fields, dim] = left.shape as [number, number, number];
  const dleft = b.makeOutput(left.shape, "float32");
  const dright = b.makeOutput(right.shape, "float32");
  b.typedArrayFromHeap(dleft).fill(0);
  b.typedArrayFromHeap(dright).fill(0);
  passes.grad(at(left), at(right), at(dy), at(dleft), at(dright), batch, fields, dim);
  return [dleft, dright];
};

const fieldPairsGradient: TF.GradConfig = {
  kernelName: FIELD_PAIRS_KERNEL,
  inputsToSave: ["left", "right"],
  gradFunc: (dy, saved) => {
    const [left, right] = saved as [tf.Tensor3D, tf.Tensor3D];
    // One pass gives both gradients; tfjs's backprop asks for each separately and releases the other.
    const [dleft, dright] = tf.engine().runKernel(FIELD_PAIRS_GRAD_KERNEL, { dy: dy as tf.Tensor, left, right }) as tf.Tensor[];
    return { left: () => dleft!, right: () => dright! };
  },
};

/** The kernels (and MktFieldPairs's gradient), registered and removed through the kernel registry. */
export const fieldPairsKernels: readonly KernelAddition[] = [
  { name: `wasm:${FIELD_PAIRS_KERNEL}/simd`, config: { kernelName: FIELD_PAIRS_KERNEL, backendName: "wasm", kernelFunc: wasmFieldPairs }, gradient: fieldPairsGradient },
  { name: `wasm:${FIELD_PAIRS_GRAD_KERNEL}/simd`, config: { kernelName: FIELD_PAIRS_GRAD_KERNEL, backendName: "wasm", kernelFunc: wasmFieldPairsGrad } },
];
