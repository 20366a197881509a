import { tf } from "../engine/index.ts";
import { dense } from "./dense.ts";
import type { EntityName } from "../data/batch.ts";
import { Module, type ParamInit } from "./params.ts";

export interface StarFcnOptions {
  inputSize: number;
  /** Units per layer, e.g. [1024, 512]; ReLU after each. */
  sizes: readonly number[];
}

/** A kernel [in, out] and bias [out]. */
export interface LinearWeights {
  kernel: tf.Tensor2D;
  bias: tf.Tensor1D;
}

interface StarLayer {
  shared: { kernel: tf.Variable; bias: tf.Variable };
  entity: Record<EntityName, { kernel: tf.Variable; bias: tf.Variable }>;
}

/**
 * STAR's star-topology fully connected network over two entities: layer l of entity e uses
 * W_e = W_shared ⊙ W'_e and b_e = b_shared + b'_e, then ReLU (the SPEC's MLP). The shared kernels
 * start glorot-uniform, the entity kernels at 1 and entity biases at 0, so both entities start from
 * the shared network and learn multiplicative deviations from it (two random factors would
 * multiply to a badly scaled kernel).
 */
export class StarFcn extends Module {
  readonly outputSize: number;
  private readonly layers: StarLayer[];

  constructor(name: string, init: ParamInit, options: StarFcnOptions) {
    super(name);
    let inputSize = options.inputSize;
    this.layers = options.sizes.map((units, l) => {
      const shape: [number, number] = [inputSize, units];
      const linear = (part: string, kernel: tf.Tensor) => ({
        kernel: this.param(`layer${l}/${part}_kernel`, kernel),
        bias: this.param(`layer${l}/${part}_bias`, init.zeros([units])),
      });
      inputSize = units;
      const shared = linear("shared", init.glorotUniform(shape));
      return { shared, entity: { source: linear("source", tf.ones(shape)), target: linear("target", tf.ones(shape)) } };
    });
    this.outputSize = inputSize;
  }

  /** Entity e's effective kernel and bias of every layer. */
  effectiveWeights(entity: EntityName): LinearWeights[] {
    return this.layers.map(({ shared, entity: own }) => ({
      kernel: tf.mul(shared.kernel, own[entity].kernel) as tf.Tensor2D,
      bias: tf.add(shared.bias, own[entity].bias) as tf.Tensor1D,
    }));
  }

  /** x [n, inputSize], rows read as `entity`'s → [n, outputSize]. */
  apply(x: tf.Tensor2D, entity: EntityName): tf.Tensor2D {
    let h = x;
    // relu(h · kernel + bias) as Dense computes it (bias and ReLU fused into the matmul where the overrides are applied).
    for (const { kernel, bias } of this.effectiveWeights(entity)) h = dense(h, kernel, bias, "relu");
    return h;
  }
}
