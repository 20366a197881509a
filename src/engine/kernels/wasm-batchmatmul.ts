/**
 * wasm matmul overrides: explicit transposes so XNNPACK is used.
 *
 * tfjs-backend-wasm 4.22 (src/cc/batch_mat_mul_impl.cc) runs a matmul through XNNPACK's
 * fully-connected operator only when transposeA = transposeB = false and both operands have a
 * batch size of 1; otherwise it falls back to a naive blocked triple loop, 10-15x slower. Every
 * matmul gradient transposes one operand (dA = dY·Bᵀ, dB = Aᵀ·dY), so training hit the slow loop.
 * Transposing explicitly first (one O(n²) copy) lets the O(n³) product take the XNNPACK path.
 *
 * Batched operands (batch > 1) take the slow loop whatever the transposes, so they are passed
 * through unchanged: an explicit transpose would only add a copy.
 */
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../tf.ts";
import { SMALL_MATRIX_WORK, smallBatchedMatMul } from "./small-batched-matmul.ts";
import type { KernelOverride } from "./types.ts";

/** The one backend method needed: intermediates are freed by dataId (ref-counted on wasm). */
interface DisposingBackend {
  disposeData(dataId: TF.DataId, force?: boolean): boolean;
}

import { batchSize } from "./matmul-plan.ts";

/** Runs a wasm kernel directly (no engine: no tape entry, no tensor tracking); the caller frees the result. */
export function runWasmKernel(
  kernelName: string,
  inputs: TF.NamedTensorInfoMap,
  backend: object,
  attrs: tf.NamedAttrMap = {},
): TF.TensorInfo {
  const kernel = tf.getKernel(kernelName, "wasm");
  if (kernel === undefined) throw new Error(`wasm kernel ${kernelName} is not registered`);
  return kernel.kernelFunc({ inputs, backend, attrs }) as TF.TensorInfo;
}

/** Frees kernel-internal intermediates: the engine never sees them, so nothing else would. */
export function disposeInfos(backend: object, infos: readonly TF.TensorInfo[]): void {
  for (const t of infos) (backend as DisposingBackend).disposeData(t.dataId);
}

function transposeLastTwo(x: TF.TensorInfo, backend: object): TF.TensorInfo {
  const rank = x.shape.length;
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return runWasmKernel(tf.Transpose, { x }, backend, { perm });
}

/**
 * Wraps a matmul-like kernel (inputs a, b; attrs transposeA, transposeB; other inputs and attrs
 * such as bias/activation pass through) so transposed 1-batch operands are materialized first.
 */
export function explicitTransposeMatMul(original: TF.KernelFunc): TF.KernelFunc {
  return (args) => {
    const { inputs, backend, attrs } = args;
    const { a, b } = inputs;
    const transposeA = attrs?.["transposeA"] === true;
    const transposeB = attrs?.["transposeB"] === true;
    if (
      a === undefined ||
      b === undefined ||
      (!transposeA && !transposeB) ||
      a.dtype !== "float32" ||
      b.dtype !== "float32" || // the original kernel reports the unsupported dtype itself
      batchSize(a.shape) !== 1 ||
      batchSize(b.shape) !== 1
    ) {
      return original(args);
    }
    const temps: TF.TensorInfo[] = [];
    try {
      const a2 = transposeA ? transposeLastTwo(a, backend) : a;
      if (transposeA) temps.push(a2);
      const b2 = transposeB ? transposeLastTwo(b, backend) : b;
      if (transposeB) temps.push(b2);
      return original({
        inputs: { ...inputs, a: a2, b: b2 },
        backend,
        attrs: { ...attrs, transposeA: false, transposeB: false },
      });
    } finally {
      disposeInfos(backend, temps);
    }
  };
}

export const wasmBatchMatMulOverride: KernelOverride = {
  name: "wasm:BatchMatMul/explicit-transpose+small-simd",
  kernelName: "BatchMatMul",
  backendName: "wasm",
  // Batches of small matrices first go to the SIMD kernel (small-batched-matmul.ts).
  wrap: (original) => smallBatchedMatMul(explicitTransposeMatMul(original), SMALL_MATRIX_WORK.withoutBlas),
};
