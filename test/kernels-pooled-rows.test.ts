import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../src/engine/backend.ts";
import { pooledRowSums, withTfjsKernelsOnly } from "../src/engine/index.ts";
import { Embedding } from "../src/layers/embedding.ts";
import { ParamInit } from "../src/layers/params.ts";
import { maskedSum } from "../src/layers/pooling.ts";
import { mulberry32 } from "../src/util/random.ts";
import { countKernelCalls } from "./helpers/kernel-modes.ts";

/**
 * MktPooledRows (pooled-rows-kernel.ts): masked sums of embedding rows and their table gradient,
 * against the path they replace (rows looked up, then the batched product with the mask) bit for
 * bit, and against the sums written out in float64.
 */

interface Case {
  batch: number;
  length: number;
  vocab: number;
  dim: number;
  seed: number;
}

/** ids in [0, vocab) with repeats and padding rows (id 0, mask 0); some rows without a real position. */
function data({ batch, length, vocab, dim, seed }: Case) {
  const uniform = mulberry32(seed);
  const lengths = Int32Array.from({ length: batch }, (_, b) => (b % 5 === 0 ? 0 : Math.floor(uniform() * (length + 1))));
  const ids = new Int32Array(batch * length);
  const mask = new Float32Array(batch * length);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < lengths[b]!; t++) {
      ids[b * length + t] = 1 + Math.floor(uniform() * (vocab - 1));
      mask[b * length + t] = 1;
    }
  }
  const table = Float32Array.from({ length: vocab * dim }, () => uniform() * 2 - 1);
  const up = Float32Array.from({ length: batch * dim }, () => uniform() * 2 - 1);
  return { ids, mask, table, up };
}

/** Sums and the table gradient of Σ up ⊙ sums, in float64. */
function definition(c: Case, d: ReturnType<typeof data>) {
  const sums = new Float64Array(c.batch * c.dim);
  const grad = new Float64Array(c.vocab * c.dim);
  for (let b = 0; b < c.batch; b++) {
    for (let t = 0; t < c.length; t++) {
      const m = d.mask[b * c.length + t]!;
      const id = d.ids[b * c.length + t]!;
      for (let e = 0; e < c.dim; e++) {
        sums[b * c.dim + e]! += m * d.table[id * c.dim + e]!;
        grad[id * c.dim + e]! += m * d.up[b * c.dim + e]!;
      }
    }
  }
  return { sums, grad };
}

const CASES: Case[] = [
  { batch: 37, length: 20, vocab: 13, dim: 8, seed: 1 },
  { batch: 6, length: 3, vocab: 5, dim: 16, seed: 2 },
  { batch: 64, length: 7, vocab: 400, dim: 4, seed: 3 },
];

describe("MktPooledRows on wasm with mkt's kernels", () => {
  beforeAll(async () => {
    await selectBackend("wasm");
  });
  afterAll(async () => {
    await selectBackend("wasm");
  });

  it.each(CASES)("sums and table gradient: the lookup-then-product path's bits, the float64 definition's values (%o)", (c) => {
    const d = data(c);
    const emb = new Embedding("emb", new ParamInit(c.seed), { vocab: c.vocab, dim: c.dim });
    emb.table.assign(tf.tensor2d(d.table, [c.vocab, c.dim]));
    const ids = tf.tensor2d(d.ids, [c.batch, c.length], "int32");
    const mask = tf.tensor2d(d.mask, [c.batch, c.length]);
    const up = tf.tensor2d(d.up, [c.batch, c.dim]);
    const run = (sums: () => tf.Tensor) => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(sums(), up)) as tf.Scalar, [emb.table]);
      const out = { sums: sums().dataSync() as Float32Array, grad: grads[emb.table.name]!.dataSync() as Float32Array };
      tf.dispose([value, ...Object.values(grads)]);
      return out;
    };
    const counted = countKernelCalls("MktPooledRows", () => run(() => emb.pooledSums(ids, mask)));
    expect(counted.calls).toBeGreaterThan(0);
    const kernel = counted.result;
    const composed = run(() => maskedSum(emb.lookup(ids), mask));
    expect(Buffer.from(kernel.sums.buffer).equals(Buffer.from(composed.sums.buffer))).toBe(true);
    expect(Buffer.from(kernel.grad.buffer).equals(Buffer.from(composed.grad.buffer))).toBe(true);
    const want = definition(c, d);
    for (let i = 0; i < want.sums.length; i++) expect(Math.abs(kernel.sums[i]! - want.sums[i]!)).toBeLessThan(1e-5);
    for (let i = 0; i < want.grad.length; i++) expect(Math.abs(kernel.grad[i]! - want.grad[i]!)).toBeLessThan(1e-5);
    tf.dispose([ids, mask, up]);
    emb.dispose();
  });

  it("leaves the tensor count flat over training steps", () => {
    const c = CASES[0]!;
    const d = data(c);
    const emb = new Embedding("emb", new ParamInit(5), { vocab: c.vocab, dim: c.dim });
    const ids = tf.tensor2d(d.ids, [c.batch, c.length], "int32");
    const mask = tf.tensor2d(d.mask, [c.batch, c.length]);
    const optimizer = tf.train.sgd(0.1);
    const step = () => tf.tidy(() => void optimizer.minimize(() => tf.sum(emb.pooledSums(ids, mask)) as tf.Scalar, false, [emb.table]));
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    optimizer.dispose();
    tf.dispose([ids, mask]);
    emb.dispose();
  });

  it("refuses an id that is not a row of the table, and leaves shapes it does not take, and traces, to the caller", () => {
    const table = tf.zeros([4, 8]);
    const mask = tf.ones([2, 3]);
    expect(() => pooledRowSums(table, tf.tensor2d([0, 1, 2, 3, 4, 1], [2, 3], "int32"), mask)).toThrow(/id 4 at position 4 is not a row of the 4-row table/);
    expect(() => pooledRowSums(table, tf.tensor2d([0, 1, -1, 3, 2, 1], [2, 3], "int32"), mask)).toThrow(/id -1/);
    expect(pooledRowSums(tf.zeros([4, 6]), tf.zeros([2, 3], "int32"), mask)).toBeUndefined(); // E not a multiple of 4
    // Inside a withTfjsKernelsOnly scope (an export's trace) the caller composes tfjs ops.
    const ids = tf.zeros([2, 3], "int32");
    expect(withTfjsKernelsOnly(() => pooledRowSums(table, ids, mask))).toBeUndefined();
    expect(pooledRowSums(table, ids, mask)?.shape).toEqual([2, 8]);
  });

  it("is left to the caller on a backend without the kernel (cpu): the layer's sums are the definition's", async () => {
    await selectBackend("cpu");
    const c = CASES[1]!;
    const d = data(c);
    const emb = new Embedding("emb", new ParamInit(6), { vocab: c.vocab, dim: c.dim });
    emb.table.assign(tf.tensor2d(d.table, [c.vocab, c.dim]));
    const ids = tf.tensor2d(d.ids, [c.batch, c.length], "int32");
    const mask = tf.tensor2d(d.mask, [c.batch, c.length]);
    expect(pooledRowSums(emb.table, ids, mask)).toBeUndefined();
    const sums = emb.pooledSums(ids, mask).dataSync();
    const want = definition(c, d);
    for (let i = 0; i < want.sums.length; i++) expect(Math.abs(sums[i]! - want.sums[i]!)).toBeLessThan(1e-5);
    emb.dispose();
  });
});
