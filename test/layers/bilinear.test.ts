import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { BilinearInteraction } from "../../src/layers/bilinear.ts";
import { ParamInit } from "../../src/layers/params.ts";
import { expectClose, setParam } from "./helpers.ts";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("BilinearInteraction (field-all)", () => {
  it("gives p_ij = (v_i W) ⊙ v_j for i < j, in pair order", () => {
    const bi = new BilinearInteraction("bi", new ParamInit(1), { dim: 2 });
    const w = [[1, 2], [0, -1]];
    setParam(bi, "bi/w", w);
    const v = [[1, 2], [3, -1], [0.5, 4]];
    const times = (a: number[], b: number[]): number[] => a.map((x, k) => x * b[k]!);
    const vw = (a: number[]): number[] => [0, 1].map((j) => a.reduce((s, ai, i) => s + ai * w[i]![j]!, 0));
    const expected = [
      times(vw(v[0]!), v[1]!),
      times(vw(v[0]!), v[2]!),
      times(vw(v[1]!), v[2]!),
    ].flat();
    const out = bi.apply(tf.tensor3d([v]));
    expect(out.shape).toEqual([1, 3, 2]);
    expectClose(out, expected);
  });

  it("matches the pairwise definition row by row, with its gradients, on a batch of random fields", () => {
    const [B, F, E] = [3, 5, 4];
    const bi = new BilinearInteraction("bir", new ParamInit(2), { dim: E });
    const fields = tf.randomNormal([B, F, E], 0, 1, "float32", 7);
    const dy = tf.randomNormal([B, (F * (F - 1)) / 2, E], 0, 1, "float32", 8);
    const w = bi.variables()[0]!;
    // The definition: for each pair i < j (in order), (v_i W) ⊙ v_j.
    const reference = (x: tf.Tensor, weights: tf.Tensor) => {
      const blocks: tf.Tensor[] = [];
      for (let i = 0; i < F; i++) {
        for (let j = i + 1; j < F; j++) {
          const vi = tf.slice(x, [0, i, 0], [-1, 1, -1]).reshape([B, E]);
          const vj = tf.slice(x, [0, j, 0], [-1, 1, -1]).reshape([B, E]);
          blocks.push(tf.mul(tf.matMul(vi, weights as tf.Tensor2D), vj).reshape([B, 1, E]));
        }
      }
      return tf.concat(blocks, 1);
    };
    expectClose(bi.apply(fields), Array.from(reference(fields, w).dataSync()));
    const loss = (out: tf.Tensor) => tf.sum(tf.mul(out, dy)) as tf.Scalar;
    const gotX = tf.grad((x: tf.Tensor) => loss(bi.apply(x)))(fields);
    const { grads: gotW } = tf.variableGrads(() => loss(bi.apply(fields)), [w as tf.Variable]);
    const want = tf.grads((x: tf.Tensor, weights: tf.Tensor) => loss(reference(x, weights)))([fields, w]);
    expectClose(gotX, Array.from(want[0]!.dataSync()));
    expectClose(gotW[w.name]!, Array.from(want[1]!.dataSync()));
  });

  it("has F(F−1)/2 pairs and a single shared [E, E] weight", () => {
    const bi = new BilinearInteraction("bi5", new ParamInit(1), { dim: 3 });
    expect(bi.variables().map((v) => v.shape)).toEqual([[3, 3]]);
    expect(bi.apply(tf.ones([2, 5, 3])).shape).toEqual([2, 10, 3]);
  });
});
