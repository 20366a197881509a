import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { ParamInit } from "../../../src/layers/params.ts";
import { MmoeModel, mmoeRecipe } from "../../../src/models/baselines/mmoe.ts";
import { disposeBatchTensors } from "../../../src/models/inputs.ts";
import { expectClose } from "../../layers/helpers.ts";
import { gradientMagnitudes, randomTensors, SMALL_SIZES, testSchema } from "../helpers.ts";
import { describeLearning, range, testSpec } from "./stage-context.ts";

const schema = testSchema();
const build = (): MmoeModel => new MmoeModel("mmoe", new ParamInit(1), { schema, sizes: SMALL_SIZES, experts: 3 });

describe("MmoeModel", () => {
  beforeAll(async () => {
    await tf.setBackend("cpu");
  });

  it("predicts a probability per row through the target path; the loss covers both entities' rows", () => {
    const model = build();
    expect(model.trainEntities).toEqual(["source", "target"]);
    const batch = randomTensors(schema, { source: 5, target: 4 });
    tf.tidy(() => {
      const p = model.predictTarget(batch);
      expect(p.shape).toEqual([9]);
      const [low, high] = range(p);
      expect(low).toBeGreaterThan(0);
      expect(high).toBeLessThan(1);
      const { total, parts } = model.loss(batch);
      // Mean BCE over all rows = the row-weighted mean of the per-entity means.
      const weighted = (5 * parts.bce_source!.dataSync()[0]! + 4 * parts.bce_target!.dataSync()[0]!) / 9;
      expect(total.dataSync()[0]!).toBeCloseTo(weighted, 5);
    });
    disposeBatchTensors(batch);
    model.dispose();
  });

  it("mixes the same shared experts with a softmax gate per entity: gates sum to 1 and differ between entities", () => {
    const model = build();
    const names = [...model.namedVariables().keys()];
    expect(names.filter((n) => n.endsWith("dense0/kernel") && n.includes("expert"))).toEqual([0, 1, 2].map((i) => `mmoe/mmoe/shared_expert${i}/dense0/kernel`));
    const batch = randomTensors(schema, { source: 5, target: 4 }, 2);
    tf.tidy(() => {
      const gates = model.gates(batch);
      for (const gate of Object.values(gates)) {
        expect(gate.shape).toEqual([9, 3]);
        expectClose(tf.sum(gate, 1), new Array<number>(9).fill(1));
      }
      expect(tf.max(tf.abs(tf.sub(gates.source, gates.target))).dataSync()[0]!).toBeGreaterThan(1e-3);
    });
    // Target rows alone train every expert, the target gate and tower, not the source ones.
    const targetOnly = randomTensors(schema, { source: 0, target: 6 }, 3);
    const grads = gradientMagnitudes(model.namedVariables(), () => model.loss(targetOnly).total);
    for (const i of [0, 1, 2]) expect(grads.get(`mmoe/mmoe/shared_expert${i}/dense0/kernel`)).toBeGreaterThan(0);
    expect(grads.get("mmoe/mmoe/target_gate/kernel")).toBeGreaterThan(0);
    expect(grads.get("mmoe/mmoe/source_gate/kernel")).toBe(0);
    expect(grads.get("mmoe/tower_source/logit/kernel")).toBe(0);
    disposeBatchTensors(batch);
    disposeBatchTensors(targetOnly);
    model.dispose();
  });
});

describeLearning("MMoE", mmoeRecipe, testSpec({}, { max_epochs: 1 }), 0.57, "logistic regression 0.60–0.62; one epoch of MMoE 0.595–0.605 over seeds 1–3");
