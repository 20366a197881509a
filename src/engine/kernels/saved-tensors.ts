/**
 * How tfjs's engine keeps the tensors a gradient needs, made cheaper on wasm. For every op run under
 * the gradient tape, the engine saves the inputs and outputs its gradient reads through
 * `engine.clone`: the Identity kernel through the whole kernel dispatch, plus a tape node for the
 * copy, so that a higher-order gradient can flow through a saved tensor. Half of a small model's
 * kernel calls were these clones (99 of 277 per MLP training step at CPU sizes).
 *
 * For a first-order gradient (one tape), the copy's tape node can never lie between the variables
 * and the loss (nothing in the forward pass reads a saved tensor), so it is dropped; the copy itself
 * is what mkt's Identity override makes (the same data, reference-counted), made directly. Under
 * nested tapes (a gradient of a gradient) tfjs's own clone runs, tape node and all.
 */
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../tf.ts";
import type { EnginePatch } from "./types.ts";
import { sharedData } from "./wasm-copy.ts";

/** The parts of tfjs's Engine that clone reads (internal: not in tfjs's typings). */
interface CloningEngine {
  clone(x: TF.Tensor): TF.Tensor;
  state: { gradientDepth: number };
  backendName: string;
  backend: TF.KernelBackend;
  makeTensorFromTensorInfo(info: TF.TensorInfo, backend?: TF.KernelBackend): TF.Tensor;
}

const engine = (): CloningEngine => tf.engine() as unknown as CloningEngine;

function sharedClone(this: CloningEngine, x: TF.Tensor): TF.Tensor {
  const tfjsClone = Object.getPrototypeOf(this).clone as CloningEngine["clone"];
  if (this.state.gradientDepth !== 1 || this.backendName !== "wasm" || x.dtype === "string") return tfjsClone.call(this, x);
  const backend = this.backend;
  return this.makeTensorFromTensorInfo(sharedData(backend, x), backend);
}

/** The engine's clone, replaced on the engine object itself (its class keeps tfjs's). */
export const savedTensorsPatch: EnginePatch = {
  name: "engine:clone/shared-data",
  backendName: "wasm",
  apply: () => void (engine().clone = sharedClone),
  remove: () => void delete (engine() as Partial<CloningEngine>).clone,
  applied: () => Object.hasOwn(engine(), "clone") && engine().clone === sharedClone,
};
