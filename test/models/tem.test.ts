import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { ParamInit } from "../../src/layers/params.ts";
import { stopGradient } from "../../src/layers/stop-gradient.ts";
import type { BatchTensors } from "../../src/models/inputs.ts";
import { MultiEntityModel } from "../../src/models/mkt/mem.ts";
import { TargetEntityModel, type TemKnowledge } from "../../src/models/mkt/tem.ts";
import { buildMem, buildTem } from "../../src/models/mkt/index.ts";
import { experimentSpecSchema } from "../../src/spec/experiment.ts";
import { expectClose } from "../layers/helpers.ts";
import { gradientMagnitudes, randomTensors, sameValues, SMALL_SIZES, snapshot, testSchema } from "./helpers.ts";

const schema = testSchema();
let batch: BatchTensors;

beforeAll(async () => {
  await tf.setBackend("cpu");
  batch = randomTensors(schema, { source: 0, target: 10 }, 2);
});

function build(seed = 7, knowledge: TemKnowledge = "common"): { mem: MultiEntityModel; tem: TargetEntityModel } {
  const mem = new MultiEntityModel("mem", new ParamInit(seed), { schema, sizes: SMALL_SIZES, gamma: 0.1 });
  const tem = new TargetEntityModel("tem", new ParamInit(seed + 1), { schema, sizes: SMALL_SIZES, mem, knowledge });
  return { mem, tem };
}

describe("stopGradient", () => {
  it("passes values forward and no gradient back", () => {
    const x = tf.tensor1d([1, -2, 3]);
    expectClose(stopGradient(x), x, 0);
    // d/dx Σ stop(x)·x = stop(x) = x, not 2x.
    expectClose(tf.grad((v: tf.Tensor) => tf.sum(tf.mul(stopGradient(v), v)))(x), x, 0);
  });
});

describe("TargetEntityModel", () => {
  it("trains target rows only, predicts one probability per row", () => {
    const { tem } = build();
    expect(tem.trainEntities).toEqual(["target"]);
    const probs = tem.predictTarget(batch);
    expect(probs.shape).toEqual([10]);
    expect(tf.min(probs).dataSync()[0]).toBeGreaterThan(0);
    expect(tf.max(probs).dataSync()[0]).toBeLessThan(1);
    const { total, parts } = tem.loss(batch);
    expect(Object.keys(parts)).toEqual(["bce_target"]);
    expectClose(total, tf.losses.sigmoidCrossEntropy(batch.label, tf.log(tf.div(probs, tf.sub(1, probs)))), 1e-5);
    // A mixed batch: only its target rows count.
    const mixed = randomTensors(schema, { source: 4, target: 3 }, 5);
    expect(Number.isFinite(tem.loss(mixed).total.dataSync()[0]!)).toBe(true);
  });

  it("freezes MEM and returns only its own variables as trainable, while owning MEM for checkpoints", () => {
    const { mem, tem } = build();
    expect(mem.variables().every((v) => !v.trainable)).toBe(true);
    const trainable = new Set(tem.trainableVariables());
    const named = tem.namedVariables();
    const own = [...named].filter(([name]) => name.startsWith("tem/")).map(([, v]) => v);
    expect(trainable.size).toBe(own.length);
    expect(own.every((v) => trainable.has(v))).toBe(true);
    for (const [name, variable] of mem.namedVariables()) expect(named.get(name)).toBe(variable);
    expect([...named.keys()]).toEqual(expect.arrayContaining(["tem/glu_user/value/kernel", "tem/glu_seq/gate/kernel", "tem/glu_shared/value/kernel", "tem/glu_common/gate/kernel", "tem/cross/dense1/kernel", "tem/head/logit/kernel"]));
  });

  it("every TEM parameter gets a gradient; none reaches MEM even when MEM is made trainable", () => {
    const { mem, tem } = build();
    const temGrads = gradientMagnitudes(new Map([...tem.namedVariables()].filter(([n]) => n.startsWith("tem/"))), () => tem.loss(batch).total);
    expect([...temGrads].filter(([, g]) => !(g > 0)).map(([n]) => n)).toEqual([]);
    mem.setTrainable(true);
    try {
      const memGrads = gradientMagnitudes(mem.namedVariables(), () => tem.loss(batch).total);
      expect(memGrads.size).toBeGreaterThan(0);
      expect([...memGrads].filter(([, g]) => g !== 0).map(([n]) => n)).toEqual([]);
    } finally {
      mem.setTrainable(false);
    }
  });

  it("Adam steps change TEM's weights and leave MEM's bit-identical", () => {
    const { mem, tem } = build();
    const memBefore = snapshot(mem.namedVariables());
    const temNamed = new Map([...tem.namedVariables()].filter(([n]) => n.startsWith("tem/")));
    const temBefore = snapshot(temNamed);
    const optimizer = tf.train.adam(1e-2);
    for (let step = 0; step < 5; step++) tf.tidy(() => void optimizer.minimize(() => tem.loss(batch).total, false, tem.trainableVariables()));
    const memAfter = snapshot(mem.namedVariables());
    for (const [name, values] of memBefore) expect(sameValues(values, memAfter.get(name)), name).toBe(true);
    const temAfter = snapshot(temNamed);
    const unchanged = [...temBefore].filter(([name, values]) => sameValues(values, temAfter.get(name))).map(([n]) => n);
    expect(unchanged).toEqual([]);
    optimizer.dispose();
  });

  it("uses MEM's knowledge: changing a MEM weight changes TEM's predictions", () => {
    const { mem, tem } = build();
    const before = tem.predictTarget(batch);
    const table = mem.namedVariables().get("mem/features/emb/user__user_id/table")!;
    table.assign(tf.mul(table, 20));
    const after = tem.predictTarget(batch);
    expect(tf.max(tf.abs(tf.sub(after, before))).dataSync()[0]).toBeGreaterThan(1e-6);
  });
});

describe("TargetEntityModel with tem.knowledge common+target", () => {
  it("gates MEM's g_ind^t [n, d_CKE] into the cross part beside g_com^t; common has no such gate", () => {
    const { mem, tem } = build(7, "common+target");
    const d = SMALL_SIZES.cke_levels.at(-1)!;
    const k = mem.targetKnowledge(batch, "all", true);
    expect(k.independent!.shape).toEqual([10, d]);
    expect(k.common.shape).toEqual([10, d]);
    expect(mem.targetKnowledge(batch).independent).toBeUndefined();
    const named = tem.namedVariables();
    expect(named.get("tem/glu_independent/value/kernel")!.shape).toEqual([d, SMALL_SIZES.mlp.at(-1)]);
    expect(named.get("tem/glu_independent/gate/kernel")!.shape).toEqual([d, SMALL_SIZES.mlp.at(-1)]);
    expect(tem.predictTarget(batch).shape).toEqual([10]);
    expect([...build(7).tem.namedVariables().keys()].some((n) => n.includes("independent"))).toBe(false);
    // The spec field reaches TEM.
    const spec = experimentSpecSchema.parse({ name: "t", dataset: "d.yaml", sizes: SMALL_SIZES, tem: { knowledge: "common+target" } });
    const options = { schema, spec, seed: 1 };
    expect(buildTem(options, buildMem(options)).knowledge).toBe("common+target");
    expect(buildTem({ ...options, spec: experimentSpecSchema.parse({ name: "t", dataset: "d.yaml", sizes: SMALL_SIZES }) }, buildMem(options)).knowledge).toBe("common");
  });

  it("every TEM parameter learns, the new gate included; no gradient reaches MEM even when made trainable", () => {
    const { mem, tem } = build(7, "common+target");
    const own = new Map([...tem.namedVariables()].filter(([n]) => n.startsWith("tem/")));
    expect(new Set(tem.trainableVariables())).toEqual(new Set(own.values()));
    const grads = gradientMagnitudes(own, () => tem.loss(batch).total);
    expect([...grads].filter(([, g]) => !(g > 0)).map(([n]) => n)).toEqual([]);
    expect(grads.get("tem/glu_independent/value/kernel")).toBeGreaterThan(0);
    mem.setTrainable(true);
    try {
      const memGrads = gradientMagnitudes(mem.namedVariables(), () => tem.loss(batch).total);
      expect(memGrads.get("mem/tke/dense1/kernel")).toBe(0);
      expect([...memGrads].filter(([, g]) => g !== 0).map(([n]) => n)).toEqual([]);
    } finally {
      mem.setTrainable(false);
    }
  });

  it("Adam steps leave MEM bit-identical; a TKE weight changes its predictions and not those of a common-only TEM", () => {
    const { mem, tem } = build(7, "common+target");
    const memBefore = snapshot(mem.namedVariables());
    const optimizer = tf.train.adam(1e-2);
    for (let step = 0; step < 5; step++) tf.tidy(() => void optimizer.minimize(() => tem.loss(batch).total, false, tem.trainableVariables()));
    optimizer.dispose();
    const memAfter = snapshot(mem.namedVariables());
    for (const [name, values] of memBefore) expect(sameValues(values, memAfter.get(name)), name).toBe(true);

    const common = build(9, "common");
    const withTarget = build(9, "common+target");
    const before = [common.tem.predictTarget(batch), withTarget.tem.predictTarget(batch)];
    for (const { mem: m } of [common, withTarget]) {
      const kernel = m.namedVariables().get("mem/tke/dense1/kernel")!;
      kernel.assign(tf.mul(kernel, -3));
    }
    const after = [common.tem.predictTarget(batch), withTarget.tem.predictTarget(batch)];
    expectClose(after[0]!, before[0]!, 0);
    expect(tf.max(tf.abs(tf.sub(after[1]!, before[1]!))).dataSync()[0]).toBeGreaterThan(1e-6);
  });
});
