/** Messages between the main thread and a replica worker (see group.ts and worker.ts). */
import type { BackendName } from "../../engine/index.ts";
import type { AdamState } from "../adam.ts";
import type { ExchangeBuffers } from "./replica.ts";

/**
 * How a worker thread builds its replica of a model: a module (by file URL) exporting a function
 * that takes structured-cloneable arguments and returns the model, built exactly as in the main
 * thread. Its weights need not match: the main thread sends every value before training starts.
 */
export interface ReplicaFactory {
  /** file:// URL of the module. */
  module: string;
  /** Name of the exported builder. */
  exportName: string;
  args: unknown;
}

export type ToWorker =
  | { type: "init"; factory: ReplicaFactory; backend: BackendName; kernelOverrides: boolean }
  /**
   * Every variable of the model by its name, and which are trainable now: a recipe may freeze or
   * unfreeze parts around a stage (CTNet's source model), which the worker's rebuild cannot see.
   */
  | {
      type: "weights";
      values: Record<string, { shape: number[]; data: Float32Array; trainable: boolean }>;
      learningRate: number;
      buffers: ExchangeBuffers;
      slot: number;
      /** A resumed training's Adam state: the replica takes the moments of the variables it owns. */
      optimizer?: AdamState;
    }
  | { type: "gradients"; batch: unknown; weight: number }
  | { type: "apply" }
  | { type: "predict"; batch: unknown }
  | { type: "values" }
  /** The Adam state of the variables the replica owns (to save a resumable training). */
  | { type: "optimizer" }
  | { type: "close" };

export type FromWorker =
  | { type: "ready"; backend: string }
  | { type: "loaded" }
  | { type: "gradients"; loss: Record<string, number> }
  | { type: "applied" }
  | { type: "values"; values: Float32Array[] }
  | { type: "optimizer"; state: AdamState }
  | { type: "scores"; scores: Float32Array }
  | { type: "error"; message: string; stack?: string };
