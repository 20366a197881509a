/**
 * The dense MLP of benchmarks/dense-mlp.ts as a data-parallel replica (src/train/parallel): the
 * same layers, initial weights and loss, on batches that carry their rows as typed arrays.
 */
import * as tf from "@tensorflow/tfjs";
import { dense } from "../src/layers/dense.ts";
import type { BatchRows } from "../src/train/parallel/group.ts";
import type { ReplicaModel } from "../src/train/parallel/replica.ts";
import { mulberry32, normalSource } from "../src/util/random.ts";

export interface DenseRows {
  /** rows × width, row-major. */
  x: Float32Array;
  y: Float32Array;
  width: number;
}

export const denseRows: BatchRows<DenseRows> = {
  size: (b) => b.y.length,
  slice: (b, start, end, copy) => ({
    width: b.width,
    x: copy ? b.x.slice(start * b.width, end * b.width) : b.x.subarray(start * b.width, end * b.width),
    y: copy ? b.y.slice(start, end) : b.y.subarray(start, end),
  }),
  buffers: (b) => [b.x.buffer as ArrayBuffer, b.y.buffer as ArrayBuffer],
};

export interface DenseReplicaArgs {
  inputWidth: number;
  layers: number[];
  seed: number;
}

/** Same initialisation as createDenseMlpTrainer (He-normal from the JS PRNG, zero biases). */
export async function buildDenseReplica(args: DenseReplicaArgs): Promise<ReplicaModel<DenseRows>> {
  const normal = normalSource(mulberry32(args.seed));
  const variables = new Map<string, tf.Variable>();
  const params: { w: tf.Variable; b: tf.Variable }[] = [];
  let fanIn = args.inputWidth;
  args.layers.forEach((units, i) => {
    const std = Math.sqrt(2 / fanIn);
    const values = Float32Array.from({ length: fanIn * units }, () => normal() * std);
    const p = tf.tidy(() => ({ w: tf.variable(tf.tensor2d(values, [fanIn, units])), b: tf.variable(tf.zeros([units])) }));
    variables.set(`dense${i}/w`, p.w);
    variables.set(`dense${i}/b`, p.b);
    params.push(p);
    fanIn = units;
  });
  return Promise.resolve({
    namedVariables: () => variables,
    trainableVariables: () => [...variables.values()],
    lossOn: (batch) => {
      let h: tf.Tensor = tf.tensor2d(batch.x, [batch.y.length, batch.width]);
      // mkt's Dense layer's computation (src/layers/dense.ts), as in dense-mlp.ts.
      params.forEach(({ w, b }, i) => {
        h = dense(h as tf.Tensor2D, w as tf.Tensor2D, b, i < params.length - 1 ? "relu" : "none");
      });
      const total = tf.losses.sigmoidCrossEntropy(tf.tensor2d(batch.y, [batch.y.length, 1]), h) as tf.Scalar;
      return { total, parts: {} };
    },
    dispose: () => tf.dispose([...variables.values()]),
  });
}
