/** Messages between the main thread and a replica worker (see group.ts and worker.ts). */
import type { BackendName } from "../../engine/backend.ts";
import type { ReplicaFactory } from "./factory.ts";
import type { ExchangeBuffers } from "./replica.ts";

export type ToWorker =
  | { type: "init"; factory: ReplicaFactory; backend: BackendName; kernelOverrides: boolean; learningRate: number; buffers: ExchangeBuffers; slot: number }
  /** Every variable of the model (trainable or not) by its module path. */
  | { type: "weights"; values: Record<string, { shape: number[]; data: Float32Array }> }
  | { type: "gradients"; batch: unknown; weight: number; generation: number }
  | { type: "apply"; generation: number }
  | { type: "predict"; batch: unknown }
  | { type: "values" }
  | { type: "close" };

export type FromWorker =
  | { type: "ready"; backend: string }
  | { type: "loaded" }
  | { type: "gradients"; loss: Record<string, number> }
  | { type: "values"; values: Float32Array[] }
  | { type: "scores"; scores: Float32Array }
  | { type: "error"; message: string; stack?: string };
