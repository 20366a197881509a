import { tf } from "../engine/index.ts";
import { ENTITY_NAMES, type EntityName } from "../data/batch.ts";
import { CgcLevel, type CgcInput } from "./cgc.ts";
import { Module, type ParamInit } from "./params.ts";

export interface PleOptions {
  inputSize: number;
  /** Output size of each extraction level; each expert of a level is one Dense+ReLU. Default [1024, 512]. */
  levelSizes?: readonly number[];
  /** Per level; default 1. */
  sharedExperts?: number;
  /** Per entity and level; default 1. */
  entityExperts?: number;
}

export interface PleEntityOutput {
  /** The last level's entity mixture [B_e, levelSizes.at(-1)]. */
  output: tf.Tensor2D;
  /** Entity gate weights of every level, [B_e, entityExperts + sharedExperts] each. */
  gates: tf.Tensor2D[];
}

/**
 * Progressive layered extraction over two entities (the CKE of MKT and the PLE baseline). Every
 * non-final level also produces the shared path that feeds the next level's shared experts and
 * shared gate, as in the PLE paper; see CgcLevel for how rows of one entity are routed.
 */
export class Ple extends Module {
  readonly outputSize: number;
  private readonly levels: CgcLevel[];

  constructor(name: string, init: ParamInit, options: PleOptions) {
    super(name);
    const sizes = options.levelSizes ?? [1024, 512];
    let inputSize = options.inputSize;
    this.levels = sizes.map((size, i) => {
      const level = new CgcLevel(this.scoped(`level${i}`), init, {
        inputSize,
        expertSizes: [size],
        sharedExperts: options.sharedExperts,
        entityExperts: options.entityExperts,
        sharedGate: i < sizes.length - 1,
      });
      inputSize = size;
      return this.child(level);
    });
    this.outputSize = inputSize;
  }

  /** Per entity rows [B_e, inputSize] → per entity output and gates; absent entities are skipped. */
  apply<K extends EntityName>(inputs: Record<K, tf.Tensor>): Record<K, PleEntityOutput> {
    const entities = ENTITY_NAMES.filter((e): e is K => e in inputs);
    let state = {} as Record<K, CgcInput>;
    const gates = {} as Record<K, tf.Tensor2D[]>;
    for (const entity of entities) {
      state[entity] = { task: inputs[entity], shared: inputs[entity] };
      gates[entity] = [];
    }
    for (const level of this.levels) {
      const out = level.apply(state);
      const next = {} as Record<K, CgcInput>;
      for (const entity of entities) {
        const o = out[entity];
        gates[entity].push(o.gate);
        // After the final level `shared` is absent and unused.
        next[entity] = { task: o.task, shared: o.shared ?? o.task };
      }
      state = next;
    }
    const result = {} as Record<K, PleEntityOutput>;
    for (const entity of entities) result[entity] = { output: state[entity].task as tf.Tensor2D, gates: gates[entity] };
    return result;
  }
}
