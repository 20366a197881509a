/**
 * The dense MLP training step shared by the training-speed benchmarks (benchmarks/matmul.ts,
 * benchmarks/mlp-vs-torch.ts), and the deterministic batches they train on.
 *
 * Model: `layers` dense layers (the last one is the logit, width 1; each computed as mkt's Dense
 * layer computes it, src/layers/dense.ts's dense()), ReLU between them, He-normal
 * weights and zero biases, sigmoid cross-entropy (mean over the batch), Adam. The PyTorch twin is
 * benchmarks/reference/torch_mlp.py; the batches come from a seeded JS PRNG so both frameworks
 * can be handed byte-identical data (see writeBatchFile for the file layout).
 */
import * as tf from "@tensorflow/tfjs";
import { writeFile } from "node:fs/promises";
import { dense } from "../src/layers/dense.ts";
import { Adam } from "../src/train/adam.ts";
import { mulberry32, normalSource } from "../src/util/random.ts";

export interface DenseMlpConfig {
  batch: number;
  inputWidth: number;
  /** Layer widths, input side first; the last one is the output (1 logit). */
  layers: number[];
  /** Seeds the weight initialisation. */
  seed: number;
  /** Adam learning rate; default 1e-3. */
  learningRate?: number;
  /**
   * "dense" (default): each layer as mkt's Dense computes it (bias fused into the matmul);
   * "unfused": matMul, then add, then relu as separate ops (Dense before the fused bias), for comparisons.
   */
  layer?: "dense" | "unfused";
}

export interface Batch {
  /** batch × inputWidth, row-major. */
  x: Float32Array;
  /** batch labels, 0 or 1. */
  y: Float32Array;
}

export interface DenseMlpTrainer {
  /** One training step on batches[batchIndex % batches.length]; synchronous on wasm and cpu. */
  step(batchIndex: number): void;
  /** Mean loss on a batch with the current weights (no update; reads the value back). */
  loss(batchIndex: number): number;
  dispose(): void;
}

/**
 * `count` batches of x uniform in [-1, 1] and y = [x · p > 0] for one fixed random projection p
 * (a planted rule, so the loss really falls). Everything comes from mulberry32(seed).
 */
export function makeBatches(options: { batch: number; inputWidth: number; count: number; seed: number }): Batch[] {
  const { batch, inputWidth, count, seed } = options;
  const uniform = mulberry32(seed);
  const normal = normalSource(uniform);
  const projection = Float64Array.from({ length: inputWidth }, normal);
  const batches: Batch[] = [];
  for (let b = 0; b < count; b++) {
    const x = new Float32Array(batch * inputWidth);
    const y = new Float32Array(batch);
    for (let r = 0; r < batch; r++) {
      let dot = 0;
      for (let c = 0; c < inputWidth; c++) {
        const v = Math.fround(uniform() * 2 - 1);
        x[r * inputWidth + c] = v;
        dot += v * projection[c]!;
      }
      y[r] = dot > 0 ? 1 : 0;
    }
    batches.push({ x, y });
  }
  return batches;
}

/**
 * Writes batches for the PyTorch worker. Layout (float32, little-endian, no header): every x
 * first (batch 0 rows 0..batch-1, each inputWidth values, then batch 1, …), then every y
 * (batch 0's labels, then batch 1's, …): count·batch·(inputWidth + 1) floats in all.
 */
export async function writeBatchFile(path: string, batches: readonly Batch[]): Promise<void> {
  const total = batches.reduce((n, b) => n + b.x.length + b.y.length, 0);
  const buffer = Buffer.alloc(total * 4);
  let offset = 0;
  for (const part of ["x", "y"] as const) {
    for (const b of batches) {
      for (const v of b[part]) offset = buffer.writeFloatLE(v, offset); // explicit LE whatever the host's order
    }
  }
  await writeFile(path, buffer);
}

/**
 * Builds the variables, the optimizer and the batch tensors (uploaded once, like the torch side's
 * tensors) on the active tfjs backend.
 */
export function createDenseMlpTrainer(config: DenseMlpConfig, batches: readonly Batch[]): DenseMlpTrainer {
  const { batch, inputWidth, layers } = config;
  if (batches.length === 0) throw new Error("createDenseMlpTrainer: no batches");
  const data = batches.map((b) => {
    if (b.x.length !== batch * inputWidth || b.y.length !== batch) throw new Error("createDenseMlpTrainer: batch shape");
    return { x: tf.tensor2d(b.x, [batch, inputWidth]), y: tf.tensor2d(b.y, [batch, 1]) };
  });
  // He-normal from the JS PRNG rather than tf.randomNormal: the same weights on every backend.
  const normal = normalSource(mulberry32(config.seed));
  const params: { w: tf.Variable; b: tf.Variable }[] = [];
  let fanIn = inputWidth;
  for (const units of layers) {
    const std = Math.sqrt(2 / fanIn);
    const values = Float32Array.from({ length: fanIn * units }, () => normal() * std);
    // tidy: tf.variable copies nothing but leaves its initial tensor allocated; tidy frees that one.
    params.push(
      tf.tidy(() => ({ w: tf.variable(tf.tensor2d(values, [fanIn, units])), b: tf.variable(tf.zeros([units])) })),
    );
    fanIn = units;
  }
  const optimizer = new Adam(config.learningRate ?? 1e-3); // mkt's Adam (fused step where the backend has it)

  const lossOn = (index: number) => () => {
    const { x, y } = data[index % data.length]!;
    let h: tf.Tensor = x;
    // mkt's Dense layer's own computation (src/layers/dense.ts), on these weights.
    params.forEach(({ w, b }, i) => {
      const activation = i < params.length - 1 ? "relu" : "none";
      if (config.layer === "unfused") {
        h = tf.add(tf.matMul(h as tf.Tensor2D, w as tf.Tensor2D), b);
        if (activation === "relu") h = tf.relu(h);
      } else {
        h = dense(h as tf.Tensor2D, w as tf.Tensor2D, b, activation);
      }
    });
    return tf.losses.sigmoidCrossEntropy(y, h) as tf.Scalar;
  };

  return {
    // wasm and cpu run synchronously: when minimize returns, the step is done.
    step: (index) => optimizer.minimize(lossOn(index)),
    loss: (index) => tf.tidy(() => lossOn(index)().dataSync()[0]!),
    dispose: () => {
      tf.dispose([...data.flatMap((d) => [d.x, d.y]), ...params.flatMap((p) => [p.w, p.b])]);
      optimizer.dispose();
    },
  };
}

