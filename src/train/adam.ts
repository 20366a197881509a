/**
 * Adam with tfjs's formula (and its default ε, the backend's epsilon), each variable's step taken by
 * the engine's adamStep (one fused kernel where the backend has it). The moments are kept per variable name,
 * so a variable that gets no gradient in some step keeps its own moments (tfjs's Adam keys them by
 * position in the gradient map).
 */
import { tf } from "../engine/index.ts";
import { adamStep, type AdamAttrs } from "../engine/index.ts";

/** Adam's state, by logical variable name: what a resumed training needs to take the same steps. */
export interface AdamState {
  /** Steps taken (the bias corrections depend on it). */
  steps: number;
  /** First (m) and second (v) moments of the variables that have had a gradient. */
  moments: Map<string, { shape: number[]; m: Float32Array; v: Float32Array }>;
}

export class Adam {
  private readonly moments = new Map<string, { m: tf.Variable; v: tf.Variable }>();
  private steps = 0;
  readonly beta1 = 0.9;
  readonly beta2 = 0.999;
  readonly epsilon = tf.backend().epsilon();

  constructor(readonly learningRate: number) {}

  /** One step on the gradient of the scalar `f` with respect to `variables` (default: every trainable one). */
  minimize(f: () => tf.Scalar, variables?: tf.Variable[]): void {
    tf.tidy(() => this.applyGradients(tf.variableGrads(f, variables).grads));
  }

  /** One step on every variable (by tf.Variable name) in `gradients`. */
  applyGradients(gradients: tf.NamedTensorMap): void {
    this.steps++;
    const attrs: AdamAttrs = {
      learningRate: this.learningRate,
      beta1: this.beta1,
      beta2: this.beta2,
      epsilon: this.epsilon,
      correction1: 1 - this.beta1 ** this.steps,
      correction2: 1 - this.beta2 ** this.steps,
    };
    tf.tidy(() => {
      for (const [name, grad] of Object.entries(gradients)) {
        const variable = tf.engine().registeredVariables[name];
        if (variable === undefined) throw new Error(`Adam: no variable named ${name}`);
        let state = this.moments.get(name);
        if (state === undefined) {
          state = { m: tf.variable(tf.zerosLike(variable), false), v: tf.variable(tf.zerosLike(variable), false) };
          this.moments.set(name, state);
        }
        const [param, m, v] = adamStep(variable, state.m, state.v, grad, attrs);
        if (param === undefined || m === undefined || v === undefined) throw new Error("Adam: the update returned too few tensors");
        variable.assign(param);
        state.m.assign(m);
        state.v.assign(v);
      }
    });
  }

  /** The state of the variables in `variables` (logical name → variable), copied to host memory. */
  async exportState(variables: ReadonlyMap<string, tf.Variable>): Promise<AdamState> {
    const moments: AdamState["moments"] = new Map();
    for (const [logical, variable] of variables) {
      const state = this.moments.get(variable.name);
      if (state === undefined) continue;
      moments.set(logical, { shape: [...variable.shape], m: (await state.m.data()) as Float32Array, v: (await state.v.data()) as Float32Array });
    }
    return { steps: this.steps, moments };
  }

  /**
   * Continues from `state`: its step count, and the moments of those of `variables` (logical name →
   * variable) it has; moments of other variables are ignored (a replica keeps only its own).
   */
  importState(state: AdamState, variables: ReadonlyMap<string, tf.Variable>): void {
    if (this.steps !== 0 || this.moments.size !== 0) throw new Error("Adam: importState on an optimizer that has already stepped");
    this.steps = state.steps;
    for (const [logical, variable] of variables) {
      const saved = state.moments.get(logical);
      if (saved === undefined) continue;
      if (saved.shape.join() !== variable.shape.join()) throw new Error(`Adam: the saved moments of ${logical} are [${saved.shape.join(", ")}], the variable [${variable.shape.join(", ")}]`);
      const moment = (values: Float32Array) => tf.tidy(() => tf.variable(tf.tensor(values, variable.shape, "float32"), false));
      this.moments.set(variable.name, { m: moment(saved.m), v: moment(saved.v) });
    }
  }

  dispose(): void {
    for (const { m, v } of this.moments.values()) tf.dispose([m, v]);
    this.moments.clear();
  }
}
