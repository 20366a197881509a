import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { ParamInit } from "../../src/layers/params.ts";
import type { BatchTensors } from "../../src/models/inputs.ts";
import { buildMem } from "../../src/models/mkt/index.ts";
import { MultiEntityModel, type MemOptions } from "../../src/models/mkt/mem.ts";
import { sliceRows } from "../../src/models/rows.ts";
import { experimentSpecSchema } from "../../src/spec/experiment.ts";
import { UserError } from "../../src/util/errors.ts";
import { expectClose } from "../layers/helpers.ts";
import { gradientMagnitudes, randomTensors, SMALL_SIZES, testSchema } from "./helpers.ts";

const schema = testSchema();
let batch: BatchTensors;

beforeAll(async () => {
  await tf.setBackend("cpu");
  batch = randomTensors(schema, { source: 7, target: 5 });
});

const mem = (options: Partial<MemOptions> = {}): MultiEntityModel =>
  new MultiEntityModel("mem", new ParamInit(5), { schema, sizes: SMALL_SIZES, gamma: 0.1, ...options });

const scalar = (x: tf.Tensor): number => x.dataSync()[0]!;

/** Binary cross-entropy of a logit x against label y in float64: max(x, 0) − x·y + log(1 + e^(−|x|)). */
const bceWithLogits = (x: number, y: number): number => Math.max(x, 0) - x * y + Math.log1p(Math.exp(-Math.abs(x)));

/**
 * Mean over rows of cos(a_i, b_i), in float64 from the downloaded values, with the norms
 * sqrt(Σx² + 1e-8) of cosineSimilarity (the activations of a fresh model are small enough for the
 * eps to show in the 5th decimal).
 */
function meanCosine(a: tf.Tensor2D, b: tf.Tensor2D): number {
  const [rows, width] = a.shape;
  const av = a.dataSync();
  const bv = b.dataSync();
  let sum = 0;
  for (let i = 0; i < rows; i++) {
    let dot = 0;
    let na = 0;
    let nb = 0;
    for (let j = 0; j < width; j++) {
      const x = av[i * width + j]!;
      const y = bv[i * width + j]!;
      dot += x * y;
      na += x * x;
      nb += y * y;
    }
    sum += dot / (Math.sqrt(na + 1e-8) * Math.sqrt(nb + 1e-8));
  }
  return sum / rows;
}

describe("MultiEntityModel", () => {
  it("reads 4 source- and 1 target-specific features into same-size knowledge, one prediction per row", () => {
    const m = mem();
    const out = m.entityOutputs(batch);
    expect(out.source!.common.shape).toEqual([7, 8]);
    expect(out.source!.independent.shape).toEqual([7, 8]);
    expect(out.source!.logits.shape).toEqual([7]);
    expect(out.target!.common.shape).toEqual([5, 8]);
    expect(out.target!.logits.shape).toEqual([5]);
    const p = m.importance(batch);
    expect(p.source!.shape).toEqual([7, 4]);
    expect(p.target!.shape).toEqual([5, 1]);
    expect(m.predictTarget(batch).shape).toEqual([12]);
    const k = m.targetKnowledge(batch);
    expect(k.user.shape).toEqual([12, m.knowledgeSizes.user]);
    expect(k.seq.shape).toEqual([12, m.knowledgeSizes.seq]);
    expect(k.shared!.shape).toEqual([12, m.knowledgeSizes.shared]);
    expect(k.common.shape).toEqual([12, 8]);
    // HFA aligned both schemas to d_HFA: CKE is one network over both entities' q^e.
    const names = [...m.namedVariables().keys()];
    expect(names).toContain("mem/hfa_source/align/kernel");
    expect(m.namedVariables().get("mem/hfa_source/align/kernel")!.shape).toEqual([16, 8]);
    expect(m.namedVariables().get("mem/hfa_target/align/kernel")!.shape).toEqual([4, 8]);
  });

  it("importance is strictly inside (0, 2)", () => {
    const p = mem().importance(batch);
    for (const entity of ["source", "target"] as const) {
      expect(scalar(tf.min(p[entity]!))).toBeGreaterThan(0);
      expect(scalar(tf.max(p[entity]!))).toBeLessThan(2);
    }
  });

  it("predictTarget is sigmoid of the target tower, every row read as a target row", () => {
    const m = mem();
    const probs = m.predictTarget(batch);
    const target = m.entityOutputs(batch).target!;
    expectClose(sliceRows(probs, batch, "target"), tf.sigmoid(target.logits), 1e-6);
    // Source rows differ from what the source tower says about them.
    const source = m.entityOutputs(batch).source!;
    expect(scalar(tf.max(tf.abs(tf.sub(sliceRows(probs, batch, "source"), tf.sigmoid(source.logits)))))).toBeGreaterThan(1e-4);
  });

  it("adds γ times the hand-computed mean cosines of (g_com, g_ind) per entity to the BCE parts", () => {
    const gamma = 0.25;
    const m = mem({ gamma, lossWeighting: "entities" });
    const out = m.entityOutputs(batch);
    const pdl = meanCosine(out.source!.common, out.source!.independent) + meanCosine(out.target!.common, out.target!.independent);
    const { total, parts } = m.loss(batch);
    const bce = scalar(parts["bce_source"]!) + scalar(parts["bce_target"]!);
    expect(Math.abs(pdl)).toBeGreaterThan(1e-3);
    expect(scalar(parts["pdl"]!)).toBeCloseTo(pdl, 5);
    expect(scalar(total) - bce).toBeCloseTo(gamma * pdl, 5);
    // Each BCE part is its own entity's mean.
    const bceTarget = tf.losses.sigmoidCrossEntropy(sliceRows(batch.label, batch, "target"), out.target!.logits);
    expect(scalar(parts["bce_target"]!)).toBeCloseTo(scalar(bceTarget), 6);
  });

  it("eq. 13 (loss weighting rows, the default): Σ BCE over the batch's rows / batch size + γ·(mean cos_s + mean cos_t), by hand in float64", () => {
    const gamma = 0.3;
    const m = mem({ gamma });
    expect(m.lossWeighting).toBe("rows");
    // 7 source rows, 5 target rows; computed from the downloaded logits and labels.
    const out = m.entityOutputs(batch);
    const labels = Array.from(batch.label.dataSync());
    const logits = [...Array.from(out.source!.logits.dataSync()), ...Array.from(out.target!.logits.dataSync())];
    const perRow = logits.map((x, i) => bceWithLogits(x, labels[i]!));
    const bce = perRow.reduce((a, b) => a + b, 0) / batch.size;
    const cosines = meanCosine(out.source!.common, out.source!.independent) + meanCosine(out.target!.common, out.target!.independent);
    const { total, parts } = m.loss(batch);
    expect(scalar(total)).toBeCloseTo(bce + gamma * cosines, 5);
    // Every row weighs 1/12: not the sum of the two entities' means (which weighs a target row 7/5 times a source row here).
    const meanOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const [sourceMean, targetMean] = [meanOf(perRow.slice(0, 7)), meanOf(perRow.slice(7))];
    expect(Math.abs(bce - (sourceMean + targetMean))).toBeGreaterThan(0.1);
    expect(bce).toBeCloseTo((7 * sourceMean + 5 * targetMean) / 12, 6);
    // The logged parts stay each entity's mean.
    expect(scalar(parts["bce_source"]!)).toBeCloseTo(sourceMean, 5);
    expect(scalar(parts["bce_target"]!)).toBeCloseTo(targetMean, 5);
  });

  it("loss weighting entities: the mean BCE of each entity, summed, + γ·PDL; the spec field reaches MEM", () => {
    const gamma = 0.3;
    const m = mem({ gamma, lossWeighting: "entities" });
    const out = m.entityOutputs(batch);
    const labels = Array.from(batch.label.dataSync());
    const logits = [...Array.from(out.source!.logits.dataSync()), ...Array.from(out.target!.logits.dataSync())];
    const perRow = logits.map((x, i) => bceWithLogits(x, labels[i]!));
    const meanOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const cosines = meanCosine(out.source!.common, out.source!.independent) + meanCosine(out.target!.common, out.target!.independent);
    expect(scalar(m.loss(batch).total)).toBeCloseTo(meanOf(perRow.slice(0, 7)) + meanOf(perRow.slice(7)) + gamma * cosines, 5);
    const spec = (lossWeighting: "rows" | "entities") =>
      experimentSpecSchema.parse({ name: "t", dataset: "d.yaml", sizes: SMALL_SIZES, mem: { loss_weighting: lossWeighting } });
    expect(buildMem({ schema, spec: spec("entities"), seed: 1 }).lossWeighting).toBe("entities");
    expect(buildMem({ schema, spec: experimentSpecSchema.parse({ name: "t", dataset: "d.yaml" }), seed: 1 }).lossWeighting).toBe("rows");
  });

  it("w/o PDL: γ = 0 makes the loss exactly the BCE term", () => {
    const { total, parts } = mem({ gamma: 0, lossWeighting: "entities" }).loss(batch);
    expect(scalar(parts["pdl"]!)).not.toBe(0);
    expect(scalar(total)).toBe(Math.fround(scalar(parts["bce_source"]!) + scalar(parts["bce_target"]!)));
    const rows = mem({ gamma: 0 }).loss(batch);
    expect(scalar(rows.total)).toBeCloseTo((7 * scalar(rows.parts["bce_source"]!) + 5 * scalar(rows.parts["bce_target"]!)) / 12, 6);
  });

  it("w/o HFA: no cross, implicit or importance variables, no importance output, same prediction shape", () => {
    const full = [...mem().namedVariables().keys()];
    const ablated = mem({ hfa: false });
    const names = [...ablated.namedVariables().keys()];
    expect(full.some((n) => /hfa_(source|target)\/(cross|importance|implicit)\//.test(n))).toBe(true);
    expect(names.some((n) => /cross|importance|implicit/.test(n))).toBe(false);
    expect(names).toContain("mem/hfa_target/align/kernel");
    expect(ablated.importance(batch)).toEqual({});
    expect(ablated.entityOutputs(batch).source!.importance).toBeUndefined();
    expect(ablated.predictTarget(batch).shape).toEqual([12]);
  });

  it("an entity without rows contributes 0 (no NaN)", () => {
    const m = mem();
    const targetOnly = randomTensors(schema, { source: 0, target: 6 }, 3);
    const { total, parts } = m.loss(targetOnly);
    expect(scalar(parts["bce_source"]!)).toBe(0);
    expect(Number.isFinite(scalar(total))).toBe(true);
    const out = m.entityOutputs(targetOnly);
    expect(out.source).toBeUndefined();
    expect(scalar(parts["pdl"]!)).toBeCloseTo(meanCosine(out.target!.common, out.target!.independent), 5);
    const sourceOnly = randomTensors(schema, { source: 4, target: 0 }, 4);
    expect(scalar(m.loss(sourceOnly).parts["bce_target"]!)).toBe(0);
    expect(Number.isFinite(scalar(m.loss(sourceOnly).total))).toBe(true);
  });

  it("gradients of the MEM loss reach HFA^s, HFA^t, CKE (shared and both entity experts), SKE, TKE and every table", () => {
    const m = mem();
    const grads = gradientMagnitudes(m.namedVariables(), () => m.loss(batch).total);
    const zero = [...grads].filter(([, g]) => !(g > 0)).map(([name]) => name);
    // Every parameter learns from a mixed batch.
    expect(zero).toEqual([]);
    for (const name of [
      "mem/hfa_source/cross/w0",
      "mem/hfa_source/importance/kernel",
      "mem/hfa_target/cross/w1",
      "mem/hfa_target/implicit/kernel",
      "mem/cke/level0/shared_expert0/dense0/kernel",
      "mem/cke/level1/source_expert0/dense0/kernel",
      "mem/cke/level1/target_expert0/dense0/kernel",
      "mem/ske/dense1/kernel",
      "mem/tke/dense1/kernel",
      "mem/tower_target/logit/kernel",
    ]) {
      expect(grads.get(name), name).toBeGreaterThan(0);
    }
  });

  it("refuses an SKE/TKE width different from CKE's (PDL compares them)", () => {
    expect(() => mem({ sizes: { ...SMALL_SIZES, mlp: [16, 6] } })).toThrow(UserError);
  });
});
