import { tf } from "../../engine/index.ts";
import { ENTITY_NAMES, type EntityName } from "../../data/batch.ts";
import { Dense } from "../../layers/dense.ts";
import { Mlp } from "../../layers/mlp.ts";
import { Module, type ParamInit } from "../../layers/params.ts";
import type { Tower } from "../../layers/tower.ts";
import { defineModel } from "../definition.ts";
import { concatColumns, type SequenceElements } from "../features.ts";
import type { BatchTensors } from "../inputs.ts";
import { rowCount, type RowSet } from "../rows.ts";
import { JointModel, singleStage, type BaselineOptions } from "./common.ts";

/** A small scoring network: MLP (hidden ReLU layers) then a linear Dense(1). */
class Scorer extends Module {
  private readonly mlp: Mlp;
  private readonly score: Dense;

  constructor(name: string, init: ParamInit, inputSize: number, hidden: readonly number[]) {
    super(name);
    this.mlp = this.child(new Mlp(this.scoped("mlp"), init, { inputSize, sizes: hidden }));
    this.score = this.child(new Dense(this.scoped("score"), init, { inputSize: this.mlp.outputSize, units: 1 }));
  }

  /** x [..., in] → scores [..., 1]. */
  apply(x: tf.Tensor): tf.Tensor {
    return this.score.apply(this.mlp.apply(x));
  }
}

/** Softmax over the real positions of each row [n, L]; rows without any give all zeros. */
function maskedSoftmax(scores: tf.Tensor2D, mask: tf.Tensor2D): tf.Tensor2D {
  return tf.mul(tf.softmax(tf.add(scores, tf.mul(tf.sub(mask, 1), 1e9))), mask) as tf.Tensor2D;
}

/**
 * MiNet's item-level attention over one sequence: α = softmax over the real elements of
 * score_i = MLP([r_i ‖ k_i ⊙ q ‖ q ‖ u]), r_i the element's embeddings, k_i its shared-feature
 * embeddings (aligned with the candidate's q), u the user. The first layer is applied block by
 * block, W_r r_i + W_k (k_i ⊙ q) + W_c [q ‖ u], so the per-row context is added by broadcasting
 * instead of being tiled over the L elements (the gradient of a tile is a loop of slices).
 * Without shared features there is no k_i nor q: score_i = MLP([r_i ‖ u]), attention conditioned
 * on the user alone.
 */
class ItemAttention extends Module {
  private readonly element: Dense;
  /** W_k; absent without shared features. */
  private readonly product: Dense | undefined;
  private readonly context: Dense;
  private readonly rest: Scorer;

  constructor(name: string, init: ParamInit, sizes: { element: number; key: number; user: number }, hidden: readonly number[]) {
    super(name);
    const [first, ...more] = hidden as [number, ...number[]];
    const block = (local: string, inputSize: number, bias: boolean): Dense =>
      this.child(new Dense(this.scoped(local), init, { inputSize, units: first, bias }));
    this.element = block("element", sizes.element, true);
    this.product = sizes.key > 0 ? block("product", sizes.key, false) : undefined;
    this.context = block("context", sizes.key + sizes.user, false);
    this.rest = this.child(new Scorer(this.scoped("rest"), init, first, more));
  }

  /** Σ_i α_i r_i [n, element] for a candidate `query` [n, key] (absent without shared features) and `user` [n, user]. */
  apply({ keys, values, mask }: SequenceElements, query: tf.Tensor2D | undefined, user: tf.Tensor2D): tf.Tensor2D {
    const [n, L] = mask.shape;
    // Ops in this order (q first): the order they are recorded in sets the order in which backprop
    // adds up the gradients of a tensor read several times, hence the last bits of the weights.
    const q = query?.expandDims(1);
    const context = this.context.apply(concatColumns([query, user])).expandDims(1);
    let perElement = this.element.apply(values);
    if (this.product !== undefined && keys !== undefined && q !== undefined) {
      perElement = tf.add(perElement, this.product.apply(tf.mul(keys, q)));
    }
    const hidden = tf.relu(tf.add(perElement, context));
    const alpha = maskedSoftmax(this.rest.apply(hidden).reshape([n, L]) as tf.Tensor2D, mask);
    return tf.matMul(alpha.expandDims(1) as tf.Tensor3D, values).reshape([n, -1]) as tf.Tensor2D;
  }
}

/** What MiNet's interest extraction gives for some rows. */
export interface MinetInterests {
  /** The interests weighted by their interest-level weights, concatenated [n, Σ widths]. */
  weighted: tf.Tensor2D;
  /** Interest-level weights [n, 1 + sequences]: long-term first, then each sequence; rows sum to 1. */
  weights: tf.Tensor2D;
  /** Candidate representation [v_shared ‖ flatten(v_spec^s) ‖ flatten(v_spec^t)] [n, candidateSize]. */
  candidate: tf.Tensor2D;
}

/**
 * Joint-training MiNet (SPEC §3). Three interests: the long-term interest is the user embedding
 * v_u, shared by both entities; each behaviour sequence (seq_source, seq_target) gives a short-term
 * interest by its own item-level attention (see ItemAttention) conditioned on the candidate's
 * shared features q = v_shared and the user. Interest-level attention scores each interest with
 * its own MLP on [interest ‖ v_u ‖ candidate], and a softmax over the three (SPEC) gives weights
 * summing to 1. MLP sizes.mlp reads [weighted interests ‖ candidate], the candidate being
 * [v_shared ‖ flatten(v_spec^s) ‖ flatten(v_spec^t)] (the naive union schema), then each entity's
 * tower. Attention MLPs have sizes.attention hidden units.
 */
export class MinetModel extends JointModel {
  private readonly itemAttention: ReadonlyMap<string, ItemAttention>;
  private readonly interestAttention: readonly Scorer[];
  private readonly mlp: Mlp;
  private readonly towers: Record<EntityName, Tower>;

  constructor(name: string, init: ParamInit, options: BaselineOptions) {
    // Mean pooling: the front end creates no DIN encoders, MiNet's own attention replaces them.
    super(name, init, options, { pooling: "mean" });
    const { sizes } = options;
    const E = sizes.embedding_dim;
    const fe = this.frontEnd;
    const elementSize = (seq: string): number => fe.elementColumns(seq).length * E;
    this.itemAttention = new Map(
      fe.sequenceNames.map((seq) => [
        seq,
        this.child(
          new ItemAttention(this.scoped(`${seq}_item_attention`), init, { element: elementSize(seq), key: fe.sharedSize, user: fe.userSize }, sizes.attention),
        ),
      ]),
    );
    const candidateSize = fe.sharedSize + ENTITY_NAMES.reduce((sum, e) => sum + fe.specificCount(e) * E, 0);
    const interestSizes = [fe.userSize, ...fe.sequenceNames.map(elementSize)];
    this.interestAttention = interestSizes.map((size, i) =>
      this.child(new Scorer(this.scoped(`interest_attention${i}`), init, size + fe.userSize + candidateSize, sizes.attention)),
    );
    const weightedSize = interestSizes.reduce((a, b) => a + b, 0);
    this.mlp = this.child(new Mlp(this.scoped("mlp"), init, { inputSize: weightedSize + candidateSize, sizes: sizes.mlp }));
    this.towers = this.entityTowers(init, this.mlp.outputSize, sizes.tower);
  }

  interests(batch: BatchTensors, rows: RowSet): MinetInterests {
    const fe = this.frontEnd;
    const n = rowCount(batch, rows);
    const user = fe.user(batch, rows);
    const shared = fe.shared(batch, rows);
    const specific = ENTITY_NAMES.map((e) => fe.specific(batch, e, rows).reshape([n, -1]) as tf.Tensor2D);
    const candidate = concatColumns([shared, ...specific]);
    const interests = [
      user,
      ...[...this.itemAttention].map(([name, attention]) => attention.apply(fe.sequence(batch, name, rows), shared, user)),
    ];
    const scores = interests.map((interest, i) => this.interestAttention[i]!.apply(tf.concat([interest, user, candidate], 1)));
    const weights = tf.softmax(tf.concat(scores, 1)) as tf.Tensor2D;
    const columns = tf.split(weights, interests.length, 1);
    const weighted = tf.concat(interests.map((interest, i) => tf.mul(interest, columns[i]!)), 1) as tf.Tensor2D;
    return { weighted, weights, candidate };
  }

  logits(batch: BatchTensors, entity: EntityName, rows: RowSet): tf.Tensor1D {
    const { weighted, candidate } = this.interests(batch, rows);
    return this.towers[entity].apply(this.mlp.apply(tf.concat([weighted, candidate], 1)));
  }
}

export const minetRecipe = defineModel({
  name: "minet",
  label: "MiNet",
  category: "joint training",
  ...singleStage((init, schema, spec) => new MinetModel("minet", init, { schema, sizes: spec.sizes })),
});
