import type * as tf from "@tensorflow/tfjs";
import type { EntityName } from "../data/batch.ts";
import type { Module } from "../layers/params.ts";
import type { BatchTensors } from "./inputs.ts";

/** The loss of one training batch: the total to minimise and named parts to log (all scalars). */
export interface LossResult {
  total: tf.Scalar;
  parts: Record<string, tf.Scalar>;
}

/**
 * What the training loop, evaluation and checkpoints need from every model (MKT's MEM and TEM and
 * each baseline). All methods are pure tensor math, called inside tf.tidy by the caller.
 */
export interface CtrModel {
  readonly name: string;
  /** Entities whose training rows the model trains on: ["target"] or ["source", "target"]. */
  readonly trainEntities: EntityName[];
  /** The module owning every variable of the model (checkpoints save its namedVariables()). */
  readonly module: Module;
  /** Variables the optimizer updates (frozen parts excluded). */
  trainableVariables(): tf.Variable[];
  /** Training loss on a batch of the model's train entities. */
  loss(batch: BatchTensors): LossResult;
  /** Click probability of each row, read through the target path [B]. */
  predictTarget(batch: BatchTensors): tf.Tensor1D;
}
