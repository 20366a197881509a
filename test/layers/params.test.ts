import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { Dense } from "../../src/layers/dense.ts";
import { Mlp } from "../../src/layers/mlp.ts";
import { ParamInit } from "../../src/layers/params.ts";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

const mlp = (name: string, seed: number): Mlp => new Mlp(name, new ParamInit(seed), { inputSize: 5, sizes: [4, 3] });

describe("ParamInit + Module", () => {
  it("gives identical weights for the same seed and different ones for another seed", () => {
    const [a, b, c] = [mlp("a", 7), mlp("b", 7), mlp("c", 8)];
    const kernels = (m: Mlp): number[] => Array.from(m.variables()[0]!.dataSync());
    expect(kernels(a)).toEqual(kernels(b));
    expect(kernels(a)).not.toEqual(kernels(c));
    // Successive tensors of one ParamInit get different seeds.
    expect(Array.from(a.variables()[2]!.dataSync()).slice(0, 3)).not.toEqual(kernels(a).slice(0, 3));
    for (const m of [a, b, c]) m.dispose();
  });

  it("names parameters by module path, recursively, and keeps engine names unique", () => {
    const first = mlp("net", 1);
    expect([...first.namedVariables().keys()]).toEqual(["net/dense0/kernel", "net/dense0/bias", "net/dense1/kernel", "net/dense1/bias"]);
    const second = mlp("net", 1);
    expect(second.variables()[0]!.name).toBe("net/dense0/kernel_1");
    expect([...second.namedVariables().keys()]).toEqual([...first.namedVariables().keys()]);
    first.dispose();
    second.dispose();
  });

  it("setTrainable(false) hides the variables from gradients; dispose frees them", () => {
    const before = tf.memory().numTensors;
    const frozen = new Dense("frozen", new ParamInit(1), { inputSize: 2, units: 1 });
    const live = new Dense("live", new ParamInit(2), { inputSize: 1, units: 1 });
    frozen.setTrainable(false);
    expect(frozen.trainableVariables()).toEqual([]);
    const x = tf.tensor2d([[1, 2]]);
    const { value, grads } = tf.variableGrads(() => tf.sum(live.apply(frozen.apply(x))));
    expect(Object.keys(grads).sort()).toEqual(live.variables().map((v) => v.name).sort());
    tf.dispose([x, value, grads]);
    frozen.dispose();
    live.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
