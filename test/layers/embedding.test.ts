import { createRequire } from "node:module";
import { dirname } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { beforeAll, describe, expect, it } from "vitest";
import { Embedding, EmbeddingGroup } from "../../src/layers/embedding.ts";
import { ParamInit } from "../../src/layers/params.ts";
import { expectClose } from "./helpers.ts";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("Embedding (cpu)", () => {
  it("looks up rows for ids of any shape", () => {
    const emb = new Embedding("emb", new ParamInit(1), { vocab: 6, dim: 3 });
    const ids = tf.tensor2d([[0, 2], [5, 2]], undefined, "int32");
    const out = emb.lookup(ids);
    expect(out.shape).toEqual([2, 2, 3]);
    expectClose(out, tf.gather(emb.table, ids));
    emb.dispose();
  });

  it("has the gradient of tf.gather, duplicates summed", () => {
    const emb = new Embedding("emb", new ParamInit(2), { vocab: 7, dim: 4 });
    const ids = tf.tensor2d([[3, 1, 3], [0, 3, 6]], undefined, "int32");
    const coeff = tf.randomNormal([2, 3, 4], 0, 1, "float32", 5);
    const loss = (rows: () => tf.Tensor) => () => tf.sum(tf.mul(rows(), coeff)) as tf.Scalar;
    const ours = tf.variableGrads(loss(() => emb.lookup(ids)), [emb.table]);
    const reference = tf.variableGrads(loss(() => tf.gather(emb.table, ids)), [emb.table]);
    const grad = ours.grads[emb.table.name]!;
    expectClose(grad, reference.grads[emb.table.name]!);
    // Row 3 appears three times: its gradient is the sum of three coefficient rows.
    expect(Math.abs(grad.slice([3, 0], [1, 1]).dataSync()[0]!)).toBeGreaterThan(0);
    expectClose(grad.slice([2, 0], [1, 4]), [0, 0, 0, 0], 0);
    emb.dispose();
  });
});

describe("EmbeddingGroup (cpu)", () => {
  const group = (): EmbeddingGroup => new EmbeddingGroup("g", new ParamInit(3), { dim: 2, vocab: { a: 4, b: 9, c: 3 } });

  it("stacks scalar fields to [B, F, E] in the requested order", () => {
    const g = group();
    const ids = { a: tf.tensor1d([1, 2], "int32"), b: tf.tensor1d([8, 0], "int32"), c: tf.tensor1d([2, 2], "int32") };
    const all = g.lookupFields(ids);
    expect(all.shape).toEqual([2, 3, 2]);
    expectClose(all.slice([0, 1, 0], [2, 1, 2]).reshape([2, 2]), g.lookup("b", ids.b));
    const two = g.lookupFields(ids, ["c", "a"]);
    expect(two.shape).toEqual([2, 2, 2]);
    expectClose(two.slice([0, 0, 0], [2, 1, 2]).reshape([2, 2]), g.lookup("c", ids.c));
    expect(() => g.lookup("zzz", ids.a)).toThrow(/no embedding table 'zzz'/);
    g.dispose();
  });

  it("stacks sequence fields to [B, L, F, E]", () => {
    const g = group();
    const ids = { a: tf.tensor2d([[1, 0, 0]], undefined, "int32"), b: tf.tensor2d([[4, 5, 0]], undefined, "int32") };
    const seq = g.lookupFields(ids, ["a", "b"]);
    expect(seq.shape).toEqual([1, 3, 2, 2]);
    expectClose(seq.slice([0, 0, 1, 0], [1, 3, 1, 2]).reshape([1, 3, 2]), g.lookup("b", ids.b));
    g.dispose();
  });
});

describe("Embedding (wasm)", () => {
  beforeAll(async () => {
    const dist = dirname(createRequire(import.meta.url).resolve("@tensorflow/tfjs-backend-wasm"));
    setWasmPaths(`${dist}/`);
    expect(await tf.setBackend("wasm")).toBe(true);
  });

  it("computes the gradient where tf.gather's gradient is not registered", () => {
    expect(tf.getBackend()).toBe("wasm");
    const emb = new Embedding("wasm_emb", new ParamInit(4), { vocab: 5, dim: 2 });
    const ids = tf.tensor1d([4, 1, 4], "int32");
    const coeff = tf.tensor2d([[1, 2], [3, 4], [5, 6]]);
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(emb.lookup(ids), coeff)) as tf.Scalar, [emb.table]);
    expectClose(grads[emb.table.name]!, [0, 0, 3, 4, 0, 0, 0, 0, 6, 8], 0);
    expect(() => tf.variableGrads(() => tf.sum(tf.gather(emb.table, ids)) as tf.Scalar, [emb.table])).toThrow();
    emb.dispose();
  });
});
