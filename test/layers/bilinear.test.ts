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

  it("has F(F−1)/2 pairs and a single shared [E, E] weight", () => {
    const bi = new BilinearInteraction("bi5", new ParamInit(1), { dim: 3 });
    expect(bi.variables().map((v) => v.shape)).toEqual([[3, 3]]);
    expect(bi.apply(tf.ones([2, 5, 3])).shape).toEqual([2, 10, 3]);
  });
});
