import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { CgcLevel } from "../../src/layers/cgc.ts";
import { ParamInit } from "../../src/layers/params.ts";
import { Ple } from "../../src/layers/ple.ts";
import { expectClose } from "./helpers.ts";
import { gradientMagnitudes } from "../models/helpers.ts";

let xs: tf.Tensor2D;
let xt: tf.Tensor2D;

beforeAll(async () => {
  await tf.setBackend("cpu");
  // Different numbers of source and target rows, as in a mixed batch.
  xs = tf.randomNormal([5, 6], 0, 1, "float32", 1);
  xt = tf.randomNormal([3, 6], 0, 1, "float32", 2);
});

const small = (name: string): Ple =>
  new Ple(name, new ParamInit(3), { inputSize: 6, levelSizes: [8, 4], sharedExperts: 2, entityExperts: 1 });


describe("Ple", () => {
  it("gives per-entity outputs of the last level size, gates summing to 1 per row", () => {
    const ple = small("ple");
    const out = ple.apply({ source: xs, target: xt });
    expect(out.source.output.shape).toEqual([5, 4]);
    expect(out.target.output.shape).toEqual([3, 4]);
    expect(ple.outputSize).toBe(4);
    for (const { gates } of [out.source, out.target]) {
      expect(gates).toHaveLength(2);
      for (const gate of gates) {
        expect(gate.shape[1]).toBe(3); // 1 entity expert + 2 shared
        expectClose(tf.sum(gate, 1), new Array(gate.shape[0]).fill(1));
        expect(tf.min(gate).dataSync()[0]).toBeGreaterThan(0);
      }
    }
  });

  it("source and target gates have their own parameters and weigh the same rows differently", () => {
    const ple = small("ple");
    const names = [...ple.namedVariables().keys()];
    expect(names).toContain("ple/level0/source_gate/kernel");
    expect(names).toContain("ple/level0/target_gate/kernel");
    expect(names).toContain("ple/level0/shared_gate/kernel");
    expect(names).not.toContain("ple/level1/shared_gate/kernel"); // the final level has no shared path
    const out = ple.apply({ source: xs, target: xs });
    const diff = tf.max(tf.abs(tf.sub(out.source.gates[0]!, out.target.gates[0]!))).dataSync()[0]!;
    expect(diff).toBeGreaterThan(1e-3);
  });

  it("computes only the entities given (e.g. the target path at serving)", () => {
    const ple = small("ple");
    const both = ple.apply({ source: xs, target: xt });
    const alone = ple.apply({ target: xt });
    expect(Object.keys(alone)).toEqual(["target"]);
    expectClose(alone.target.output, both.target.output, 0);
  });

  it("shared experts learn from both entities, each entity's experts only from its own", () => {
    const ple = small("ple");
    const sourceLoss = (): tf.Scalar => tf.sum(ple.apply({ source: xs, target: xt }).source.output) as tf.Scalar;
    const targetLoss = (): tf.Scalar => tf.sum(ple.apply({ source: xs, target: xt }).target.output) as tf.Scalar;
    const fromSource = gradientMagnitudes(ple.namedVariables(), sourceLoss);
    const fromTarget = gradientMagnitudes(ple.namedVariables(), targetLoss);
    for (const level of ["level0", "level1"]) {
      for (const param of ["shared_expert0/dense0/kernel", "shared_expert1/dense0/kernel"]) {
        expect(fromSource.get(`ple/${level}/${param}`)).toBeGreaterThan(0);
        expect(fromTarget.get(`ple/${level}/${param}`)).toBeGreaterThan(0);
      }
      expect(fromSource.get(`ple/${level}/source_expert0/dense0/kernel`)).toBeGreaterThan(0);
      expect(fromSource.get(`ple/${level}/target_expert0/dense0/kernel`)).toBe(0);
      expect(fromTarget.get(`ple/${level}/target_expert0/dense0/kernel`)).toBeGreaterThan(0);
      expect(fromTarget.get(`ple/${level}/source_expert0/dense0/kernel`)).toBe(0);
    }
    expect(fromSource.get("ple/level0/target_gate/kernel")).toBe(0);
    expect(fromTarget.get("ple/level0/source_gate/kernel")).toBe(0);
  });
});

describe("CgcLevel", () => {
  it("with shared experts only and multi-layer experts, is MMoE", () => {
    const mmoe = new CgcLevel("mmoe", new ParamInit(5), { inputSize: 6, expertSizes: [7, 4], sharedExperts: 3, entityExperts: 0 });
    const out = mmoe.apply({ source: { task: xs, shared: xs }, target: { task: xt, shared: xt } });
    expect(out.source.task.shape).toEqual([5, 4]);
    expect(out.target.gate.shape).toEqual([3, 3]);
    expect(out.source.shared).toBeUndefined();
    expect([...mmoe.namedVariables().keys()].filter((n) => n.endsWith("kernel"))).toEqual([
      "mmoe/shared_expert0/dense0/kernel",
      "mmoe/shared_expert0/dense1/kernel",
      "mmoe/shared_expert1/dense0/kernel",
      "mmoe/shared_expert1/dense1/kernel",
      "mmoe/shared_expert2/dense0/kernel",
      "mmoe/shared_expert2/dense1/kernel",
      "mmoe/source_gate/kernel",
      "mmoe/target_gate/kernel",
    ]);
  });
});
