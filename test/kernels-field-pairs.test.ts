import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../src/engine/backend.ts";
import { loadedBlas } from "../src/engine/blas.ts";
import { fieldPairProducts, withTfjsKernelsOnly } from "../src/engine/index.ts";
import { BilinearInteraction, pairProducts } from "../src/layers/bilinear.ts";
import { ParamInit } from "../src/layers/params.ts";
import { mulberry32 } from "../src/util/random.ts";
import { countKernelCalls } from "./helpers/kernel-modes.ts";

/**
 * MktFieldPairs (field-pairs-kernel.ts): the products of every pair of fields and both inputs'
 * gradients, against the tfjs ops they replace (0/1 selection products around transposes) and
 * against the definition written out in float64.
 */

interface Case {
  batch: number;
  fields: number;
  dim: number;
  seed: number;
}

const CASES: Case[] = [
  { batch: 37, fields: 7, dim: 8, seed: 1 },
  { batch: 5, fields: 2, dim: 4, seed: 2 },
  { batch: 64, fields: 5, dim: 16, seed: 3 },
];

function data({ batch, fields, dim, seed }: Case) {
  const uniform = mulberry32(seed);
  const values = (n: number) => Float32Array.from({ length: n }, () => uniform() * 2 - 1);
  const pairs = (fields * (fields - 1)) / 2;
  return { left: values(batch * fields * dim), right: values(batch * fields * dim), up: values(batch * pairs * dim) };
}

/** The pairs and the gradients of Σ up ⊙ pairs in left and right, in float64. */
function definition(c: Case, d: ReturnType<typeof data>) {
  const { batch, fields: F, dim: E } = c;
  const P = (F * (F - 1)) / 2;
  const pairs = new Float64Array(batch * P * E);
  const dleft = new Float64Array(batch * F * E);
  const dright = new Float64Array(batch * F * E);
  for (let b = 0; b < batch; b++) {
    for (let i = 0, p = 0; i < F; i++) {
      for (let j = i + 1; j < F; j++, p++) {
        for (let e = 0; e < E; e++) {
          const l = d.left[(b * F + i) * E + e]!;
          const r = d.right[(b * F + j) * E + e]!;
          const u = d.up[(b * P + p) * E + e]!;
          pairs[(b * P + p) * E + e] = l * r;
          dleft[(b * F + i) * E + e]! += u * r;
          dright[(b * F + j) * E + e]! += u * l;
        }
      }
    }
  }
  return { pairs, dleft, dright };
}

function run(c: Case, d: ReturnType<typeof data>, pairsOf: (l: tf.Tensor, r: tf.Tensor) => tf.Tensor) {
  const shape = [c.batch, c.fields, c.dim];
  const left = tf.tensor(d.left, shape);
  const right = tf.tensor(d.right, shape);
  const up = tf.tensor(d.up, [c.batch, (c.fields * (c.fields - 1)) / 2, c.dim]);
  const [dleft, dright] = tf.grads((l: tf.Tensor, r: tf.Tensor) => tf.sum(tf.mul(pairsOf(l, r), up)))([left, right]);
  const pairs = pairsOf(left, right);
  const out = { pairs: pairs.dataSync() as Float32Array, dleft: dleft!.dataSync() as Float32Array, dright: dright!.dataSync() as Float32Array, shape: pairs.shape };
  tf.dispose([left, right, up, dleft!, dright!, pairs]);
  return out;
}

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe("MktFieldPairs on wasm with mkt's kernels", () => {
  beforeAll(async () => {
    await selectBackend("wasm");
  });
  afterAll(async () => {
    await selectBackend("wasm");
  });

  it.each(CASES)("pairs and both gradients: the composed ops' values, the float64 definition's (%o)", (c) => {
    const d = data(c);
    const counted = countKernelCalls("MktFieldPairs", () => run(c, d, (l, r) => fieldPairProducts(l, r)!));
    expect(counted.calls).toBeGreaterThan(0);
    const kernel = counted.result;
    const composed = run(c, d, pairProducts);
    expect(kernel.shape).toEqual([c.batch, (c.fields * (c.fields - 1)) / 2, c.dim]);
    // A value is a copy and one float32 product either way: the same bits.
    expect(bits(kernel.pairs).equals(bits(composed.pairs))).toBe(true);
    // The gradients sum the same float32 products in order of the pairs. The composed ops sum them in
    // a matrix product: wasm's (the same bits, on every machine) or OpenBLAS's, whose order is its
    // own (within a few ulps).
    for (const key of ["dleft", "dright"] as const) {
      if (loadedBlas() === undefined) expect(bits(kernel[key]).equals(bits(composed[key]))).toBe(true);
      for (let i = 0; i < kernel[key].length; i++) expect(Math.abs(kernel[key][i]! - composed[key][i]!)).toBeLessThanOrEqual(2e-6);
    }
    const want = definition(c, d);
    for (const key of ["pairs", "dleft", "dright"] as const) {
      for (let i = 0; i < want[key].length; i++) expect(Math.abs(kernel[key][i]! - want[key][i]!)).toBeLessThan(1e-5);
    }
  });

  it("leaves the tensor count flat over training steps", () => {
    const layer = new BilinearInteraction("bilinear", new ParamInit(4), { dim: 8 });
    const fields = tf.variable(tf.randomNormal([16, 6, 8], 0, 1, "float32", 5));
    const optimizer = tf.train.sgd(0.01);
    const step = () => tf.tidy(() => void optimizer.minimize(() => tf.sum(layer.apply(fields)) as tf.Scalar, false, [fields, ...layer.variables()]));
    expect(countKernelCalls("MktFieldPairsGrad", step).calls).toBe(1);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    optimizer.dispose();
    fields.dispose();
    layer.dispose();
  });

  it("leaves shapes it does not take, and traces, to the caller", () => {
    const fields = tf.zeros([3, 4, 8]);
    expect(fieldPairProducts(tf.zeros([3, 4, 6]), tf.zeros([3, 4, 6]))).toBeUndefined(); // E not a multiple of 4
    expect(fieldPairProducts(tf.zeros([3, 1, 8]), tf.zeros([3, 1, 8]))).toBeUndefined(); // no pair
    expect(fieldPairProducts(fields, tf.zeros([3, 5, 8]))).toBeUndefined();
    expect(fieldPairProducts(fields, tf.zeros([3, 4, 8], "int32"))).toBeUndefined();
    // Inside a withTfjsKernelsOnly scope (an export's trace) the caller composes tfjs ops.
    expect(withTfjsKernelsOnly(() => fieldPairProducts(fields, fields))).toBeUndefined();
    expect(fieldPairProducts(fields, fields)?.shape).toEqual([3, 6, 8]);
    // Called directly, the kernel refuses shapes its passes would read past.
    expect(() => tf.engine().runKernel("MktFieldPairs", { left: fields, right: tf.zeros([3, 5, 8]) })).toThrow(/MktFieldPairs: left and right must be float32 \[B, F, E\] alike/);
  });

  it("is left to the caller on a backend without the kernel (cpu): the layer's pairs are the definition's", async () => {
    await selectBackend("cpu");
    const c = CASES[0]!;
    const d = data(c);
    const left = tf.tensor(d.left, [c.batch, c.fields, c.dim]);
    expect(fieldPairProducts(left, left)).toBeUndefined();
    const composed = run(c, d, pairProducts);
    const want = definition(c, d);
    for (const key of ["pairs", "dleft", "dright"] as const) {
      for (let i = 0; i < want[key].length; i++) expect(Math.abs(composed[key][i]! - want[key][i]!)).toBeLessThan(1e-5);
    }
    left.dispose();
  });
});
