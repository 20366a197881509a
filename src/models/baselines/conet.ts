import { tf } from "../../engine/index.ts";
import { ENTITY_NAMES, type EntityName } from "../../data/batch.ts";
import { Dense } from "../../layers/dense.ts";
import type { ParamInit } from "../../layers/params.ts";
import type { Tower } from "../../layers/tower.ts";
import { UserError } from "../../util/errors.ts";
import { defineModel } from "../definition.ts";
import type { BatchTensors } from "../inputs.ts";
import type { RowSet } from "../rows.ts";
import { denseInput, denseInputSize, JointModel, singleStage, type BaselineOptions } from "./common.ts";

/** Why CoNet cannot be built with these hidden sizes, or undefined. */
function conetSizeProblem(mlp: readonly number[]): string | undefined {
  return mlp.length < 2 ? `CoNet needs at least two hidden layers to cross-connect, got [${mlp.join(", ")}]` : undefined;
}

/**
 * Joint-training CoNet (SPEC §3): a source and a target network, each an MLP sizes.mlp, joined by
 * cross-connection units a_{l+1}^s = ReLU(W_l^s a_l^s + H_l a_l^t), a_{l+1}^t = ReLU(W_l^t a_l^t + H_l a_l^s),
 * with one H_l (no bias) shared by both directions, as in CoNet; each network ends in its entity's tower.
 *
 * CoNet pairs a user's samples of the two domains; here a row belongs to one entity, so both
 * networks read every row (the naive union input [v_u ‖ v_seq ‖ v_shared ‖ flatten(v_spec^s) ‖
 * flatten(v_spec^t)], sequences attention-pooled as in MKT) and the row's logit is its own entity's
 * network's tower: the other network supplies that row's cross activations. As both networks read
 * the same input, a cross unit on the input layer would only add H_0 to each W_0: cross units join
 * hidden layers, from the first to the last (sizes.mlp needs at least two layers).
 */
export class ConetModel extends JointModel {
  /** crossUnits[i] (no bias) joins hidden layer i to hidden layer i + 1 (0-based) in both directions. */
  readonly crossUnits: readonly Dense[];
  private readonly firstLayers: Record<EntityName, Dense>;
  /** W_l^e of the hidden layers after the first. */
  private readonly layers: ReadonlyArray<Record<EntityName, Dense>>;
  private readonly towers: Record<EntityName, Tower>;

  constructor(name: string, init: ParamInit, options: BaselineOptions) {
    const problem = conetSizeProblem(options.sizes.mlp);
    if (problem) throw new UserError(`sizes.mlp: ${problem}`);
    super(name, init, options);
    const { sizes } = options;
    const inputSize = denseInputSize(this.frontEnd, ENTITY_NAMES);
    const [first, ...rest] = sizes.mlp as [number, ...number[]];
    const dense = (local: string, inputSize: number, units: number, options: { activation?: "relu"; bias?: false } = {}): Dense =>
      this.child(new Dense(this.scoped(local), init, { inputSize, units, ...options }));
    const perEntity = (make: (entity: EntityName) => Dense): Record<EntityName, Dense> => ({ source: make("source"), target: make("target") });
    this.firstLayers = perEntity((e) => dense(`${e}_net/dense0`, inputSize, first, { activation: "relu" }));
    const previous = (l: number): number => sizes.mlp[l]!;
    this.layers = rest.map((units, i) => perEntity((e) => dense(`${e}_net/dense${i + 1}`, previous(i), units)));
    this.crossUnits = rest.map((units, i) => dense(`cross${i}`, previous(i), units, { bias: false }));
    this.towers = this.entityTowers(init, sizes.mlp.at(-1)!, sizes.tower);
  }

  /** Both networks' last hidden layer on `rows` [n, sizes.mlp.at(-1)] each. */
  hidden(batch: BatchTensors, rows: RowSet): Record<EntityName, tf.Tensor2D> {
    const x = denseInput(this.frontEnd, batch, rows, ENTITY_NAMES);
    let a = { source: this.firstLayers.source.apply(x), target: this.firstLayers.target.apply(x) };
    this.layers.forEach((w, l) => {
      const h = this.crossUnits[l]!;
      a = {
        source: tf.relu(tf.add(w.source.apply(a.source), h.apply(a.target))),
        target: tf.relu(tf.add(w.target.apply(a.target), h.apply(a.source))),
      };
    });
    return a as Record<EntityName, tf.Tensor2D>;
  }

  logits(batch: BatchTensors, entity: EntityName, rows: RowSet): tf.Tensor1D {
    return this.towers[entity].apply(this.hidden(batch, rows)[entity]);
  }
}

export const conetRecipe = defineModel({
  name: "conet",
  label: "CoNet",
  category: "joint training",
  rules: (spec) => {
    const problem = conetSizeProblem(spec.sizes.mlp);
    return problem ? [{ path: ["sizes", "mlp"], message: problem }] : [];
  },
  ...singleStage((init, schema, spec) => new ConetModel("conet", init, { schema, sizes: spec.sizes })),
});
