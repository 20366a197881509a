import { tf } from "../engine/index.ts";
import { ENTITY_NAMES, type EntityName } from "../data/batch.ts";
import { Dense } from "./dense.ts";
import { Mlp } from "./mlp.ts";
import { Module, type ParamInit } from "./params.ts";

export interface CgcOptions {
  /** Width of both the task and the shared input. */
  inputSize: number;
  /** Layer sizes of every expert MLP (ReLU on each layer); the last is the level's output size. */
  expertSizes: readonly number[];
  /** Default 1. */
  sharedExperts?: number;
  /** Experts per entity; default 1. 0 with several shared experts gives MMoE. */
  entityExperts?: number;
  /** Also compute the shared path (the next level's shared input); true on non-final PLE levels. */
  sharedGate?: boolean;
}

/** Per entity rows: the entity (task) path input and the shared path input; equal at the first level. */
export interface CgcInput {
  task: tf.Tensor;
  shared: tf.Tensor;
}

export interface CgcOutput {
  /** Entity gate's mixture [B_e, out]. */
  task: tf.Tensor2D;
  /** Entity gate weights [B_e, entityExperts + sharedExperts], entity experts first. */
  gate: tf.Tensor2D;
  /** Shared gate's mixture [B_e, out] (only with `sharedGate`). */
  shared?: tf.Tensor2D;
}

/**
 * One customised gate control (PLE extraction) level for two entities. In PLE's multi-task setting
 * every sample goes through every task's experts; here each row belongs to one entity, so the
 * rows of entity e are seen by e's experts and the shared experts only. The shared gate (common
 * parameters) therefore mixes, per row, the same experts as the entity gate: the other entity's
 * experts never see e's rows and learn from their own entity's samples only.
 */
export class CgcLevel extends Module {
  readonly outputSize: number;
  private readonly sharedExperts: Mlp[];
  private readonly entityExperts: Record<EntityName, Mlp[]>;
  private readonly gates: Record<EntityName, Dense>;
  private readonly sharedGate: Dense | undefined;

  constructor(name: string, init: ParamInit, options: CgcOptions) {
    super(name);
    const nShared = options.sharedExperts ?? 1;
    const nEntity = options.entityExperts ?? 1;
    if (nShared + nEntity < 1) throw new Error(`${name}: a CGC level needs at least one expert`);
    const expert = (local: string): Mlp =>
      this.child(new Mlp(this.scoped(local), init, { inputSize: options.inputSize, sizes: options.expertSizes }));
    const gate = (local: string): Dense =>
      this.child(new Dense(this.scoped(local), init, { inputSize: options.inputSize, units: nEntity + nShared }));
    this.sharedExperts = Array.from({ length: nShared }, (_, i) => expert(`shared_expert${i}`));
    this.entityExperts = {
      source: Array.from({ length: nEntity }, (_, i) => expert(`source_expert${i}`)),
      target: Array.from({ length: nEntity }, (_, i) => expert(`target_expert${i}`)),
    };
    this.gates = { source: gate("source_gate"), target: gate("target_gate") };
    this.sharedGate = options.sharedGate === true ? gate("shared_gate") : undefined;
    this.outputSize = options.expertSizes.at(-1) ?? options.inputSize;
  }

  /** Only the entities present in `inputs` are computed (e.g. the target path alone when serving). */
  apply<K extends EntityName>(inputs: Record<K, CgcInput>): Record<K, CgcOutput> {
    const out = {} as Record<K, CgcOutput>;
    for (const entity of ENTITY_NAMES) {
      if (!(entity in inputs)) continue;
      const { task, shared } = inputs[entity as K];
      const experts = tf.stack(
        [...this.entityExperts[entity].map((e) => e.apply(task)), ...this.sharedExperts.map((e) => e.apply(shared))],
        1,
      ) as tf.Tensor3D; // [B_e, n, out]
      const gate = tf.softmax(this.gates[entity].apply(task)) as tf.Tensor2D;
      const result: CgcOutput = { task: mix(gate, experts), gate };
      if (this.sharedGate !== undefined) {
        result.shared = mix(tf.softmax(this.sharedGate.apply(shared)) as tf.Tensor2D, experts);
      }
      out[entity as K] = result;
    }
    return out;
  }
}

/** Σ_i gate_i · expert_i per row: gate [B, n], experts [B, n, out] → [B, out]. */
function mix(gate: tf.Tensor2D, experts: tf.Tensor3D): tf.Tensor2D {
  return tf.matMul(gate.expandDims(1) as tf.Tensor3D, experts).squeeze([1]) as tf.Tensor2D;
}
