/**
 * wasm _FusedMatMul override (tf.fused.matMul; tf.layers Dense uses it).
 *
 * Same C++ entry as BatchMatMul, so 1-batch transposed operands get the explicit-transpose
 * treatment (→ XNNPACK). Its gradient is built from plain BatchMatMul ops, covered separately.
 *
 * It also works around a correctness bug of tfjs-backend-wasm 4.22: the non-XNNPACK loop, taken
 * by batched operands, adds the bias at index min(i·n + j, len − 1) instead of j, once per 48-wide
 * block of the shared dimension, and clamps relu/relu6 on partial block sums (errors up to 2.0
 * against cpu). There the plain (correct) matmul runs first, then the bias and activation kernels.
 */
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../tf.ts";
import type { KernelOverride } from "./types.ts";
import { batchSize } from "./matmul-plan.ts";
import { disposeInfos, explicitTransposeMatMul, runWasmKernel } from "./wasm-batchmatmul.ts";

/** Applies a fusable activation with the standalone wasm kernel; undefined if unknown. */
export function activate(
  x: TF.TensorInfo,
  inputs: TF.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap,
  backend: object,
): TF.TensorInfo | undefined {
  switch (attrs["activation"] ?? "linear") {
    case "linear":
      return x;
    case "relu":
      return runWasmKernel(tf.Relu, { x }, backend);
    case "relu6":
      return runWasmKernel(tf.Relu6, { x }, backend);
    case "sigmoid":
      return runWasmKernel(tf.Sigmoid, { x }, backend);
    case "elu":
      return runWasmKernel(tf.Elu, { x }, backend);
    case "leakyrelu": {
      const alpha = attrs["leakyreluAlpha"];
      return runWasmKernel(tf.LeakyRelu, { x }, backend, { alpha: typeof alpha === "number" ? alpha : 0.2 });
    }
    case "prelu":
      return inputs["preluActivationWeights"] === undefined
        ? undefined
        : runWasmKernel(tf.Prelu, { x, alpha: inputs["preluActivationWeights"] }, backend);
    default:
      return undefined;
  }
}

/** Plain matmul (no bias, linear), then bias via Add, then the activation kernel. */
function unfused(original: TF.KernelFunc): TF.KernelFunc {
  return (args) => {
    const { inputs, backend } = args;
    const attrs = args.attrs ?? {};
    const { a, b, bias } = inputs;
    const temps: TF.TensorInfo[] = [];
    try {
      let out = original({ inputs: { a, b }, backend, attrs: { ...attrs, activation: "linear" } }) as TF.TensorInfo;
      if (bias !== undefined) {
        temps.push(out);
        out = runWasmKernel(tf.Add, { a: out, b: bias }, backend);
      }
      const activated = activate(out, inputs, attrs, backend);
      if (activated === undefined) {
        temps.push(out);
        return original(args); // unknown activation: let the original kernel report it
      }
      if (activated !== out) temps.push(out);
      return activated;
    } finally {
      disposeInfos(backend, temps);
    }
  };
}

export function wasmFusedMatMul(original: TF.KernelFunc): TF.KernelFunc {
  const transposed = explicitTransposeMatMul(original);
  const decomposed = unfused(original);
  return (args) => {
    const { a, b, bias } = args.inputs;
    const epilogue = bias !== undefined || (args.attrs?.["activation"] ?? "linear") !== "linear";
    const slowLoop = a !== undefined && b !== undefined && (batchSize(a.shape) !== 1 || batchSize(b.shape) !== 1);
    const float32 = a?.dtype === "float32" && b?.dtype === "float32";
    return slowLoop && epilogue && float32 ? decomposed(args) : transposed(args);
  };
}

export const wasmFusedMatMulOverride: KernelOverride = {
  name: "wasm:_FusedMatMul/explicit-transpose+batched-fix",
  kernelName: "_FusedMatMul",
  backendName: "wasm",
  wrap: wasmFusedMatMul,
};
