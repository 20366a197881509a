import { tf } from "../engine/index.ts";

/** fmix32 of MurmurHash3 over (seed, counter): nearby inputs give unrelated 32-bit seeds. */
function mixSeed(seed: number, counter: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(counter + 1, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Deterministic initial values: every random tensor gets an explicit seed derived from the base
 * seed and a counter, so building the same modules in the same order with the same seed gives
 * bit-identical weights (tfjs' unseeded random ops would not).
 */
export class ParamInit {
  private counter = 0;

  constructor(readonly seed: number) {}

  nextSeed(): number {
    return mixSeed(this.seed, this.counter++);
  }

  /** Glorot/Xavier uniform for a [fanIn, fanOut] kernel (the Keras default for Dense). */
  glorotUniform(shape: [number, number]): tf.Tensor {
    return this.uniform(shape, Math.sqrt(6 / (shape[0] + shape[1])));
  }

  /** Small uniform values, e.g. embedding tables (Keras' embedding default is ±0.05). */
  uniform(shape: number[], limit: number): tf.Tensor {
    return tf.randomUniform(shape, -limit, limit, "float32", this.nextSeed());
  }

  zeros(shape: number[]): tf.Tensor {
    return tf.zeros(shape);
  }
}

/**
 * The ParamInit of a recipe's `index`-th model, from its own seed derived from the run's seed: two
 * models built alike (e.g. MKT's MEM and TEM, whose front ends create the same tables in the same
 * order, or a pre-trained and a fine-tuned network) must not start from equal weights.
 */
export function stageInit(seed: number, index: number): ParamInit {
  const root = new ParamInit(seed);
  for (let i = 0; i < index; i++) root.nextSeed();
  return new ParamInit(root.nextSeed());
}

/**
 * A block that owns `tf.Variable`s and child blocks. Parameters have logical names
 * `<module name>/<local name>` (module names are slash paths chosen by the parent), which models
 * use to save, load and freeze them. The engine-registered variable name is the logical name, with a
 * `_<n>` suffix only when another live variable already holds it (tfjs names are process-global, and
 * e.g. a serving model and its training graph may coexist in one process).
 */
export abstract class Module {
  private readonly own: Array<[string, tf.Variable]> = [];
  private readonly children: Module[] = [];
  /** This module's state variables (see state()). */
  private readonly states = new Set<tf.Variable>();

  constructor(readonly name: string) {}

  /** Name for a child module or parameter of this one. */
  protected scoped(local: string): string {
    return `${this.name}/${local}`;
  }

  /** Turns `initial` into a trainable variable owned by this module; `initial` is disposed. */
  protected param(local: string, initial: tf.Tensor): tf.Variable {
    return this.register(local, initial, true);
  }

  /**
   * A variable the forward pass updates instead of the optimizer (e.g. moving statistics): saved
   * with the parameters, never trainable, whatever setTrainable says; `initial` is disposed.
   */
  protected state(local: string, initial: tf.Tensor): tf.Variable {
    const variable = this.register(local, initial, false);
    this.states.add(variable);
    return variable;
  }

  private register(local: string, initial: tf.Tensor, trainable: boolean): tf.Variable {
    const logical = this.scoped(local);
    const registered = tf.engine().registeredVariables;
    let engineName = logical;
    for (let n = 1; registered[engineName] !== undefined; n++) engineName = `${logical}_${n}`;
    const variable = tf.variable(initial, trainable, engineName);
    initial.dispose();
    this.own.push([logical, variable]);
    return variable;
  }

  protected child<M extends Module>(module: M): M {
    this.children.push(module);
    return module;
  }

  /** Every owned parameter (recursively) by logical name, in creation order. */
  namedVariables(): Map<string, tf.Variable> {
    const out = new Map<string, tf.Variable>();
    this.collect(out);
    return out;
  }

  private collect(out: Map<string, tf.Variable>): void {
    for (const [name, variable] of this.own) {
      if (out.has(name)) throw new Error(`duplicate parameter name '${name}'`);
      out.set(name, variable);
    }
    for (const child of this.children) child.collect(out);
  }

  variables(): tf.Variable[] {
    return [...this.namedVariables().values()];
  }

  trainableVariables(): tf.Variable[] {
    return this.variables().filter((v) => v.trainable);
  }

  /** Every state variable (recursively), in creation order. */
  stateVariables(): tf.Variable[] {
    return [...this.states, ...this.children.flatMap((child) => child.stateVariables())];
  }

  /** `false` freezes the module: optimizers and tf.variableGrads skip non-trainable variables. State variables stay untrainable. */
  setTrainable(trainable: boolean): void {
    const states = new Set(this.stateVariables());
    for (const variable of this.variables()) variable.trainable = trainable && !states.has(variable);
  }

  dispose(): void {
    for (const variable of this.variables()) variable.dispose();
  }
}
