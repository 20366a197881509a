import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { ParamInit } from "../../../src/layers/params.ts";
import { PleModel, pleRecipe } from "../../../src/models/baselines/ple.ts";
import { disposeBatchTensors } from "../../../src/models/inputs.ts";
import { expectClose } from "../../layers/helpers.ts";
import { gradientMagnitudes, randomTensors, SMALL_SIZES, testSchema } from "../helpers.ts";
import { describeLearning, expectProbabilities, testSpec } from "./stage-context.ts";

const schema = testSchema();
const build = (): PleModel => new PleModel("ple", new ParamInit(1), { schema, sizes: SMALL_SIZES });

describe("PleModel", () => {
  beforeAll(async () => {
    await tf.setBackend("cpu");
  });

  it("predicts a probability per row through the target path; the loss covers both entities' rows", () => {
    expectProbabilities(build(), randomTensors(schema, { source: 5, target: 4 }), ["source", "target"], ["bce_source", "bce_target"]);
  });

  it("has shared and per-entity experts and a gate per entity on every level; an entity's rows never reach the other's", () => {
    const model = build();
    const names = new Set(model.namedVariables().keys());
    // SMALL_SIZES: levels [16, 8], 1 shared expert and 1 expert per entity on each.
    for (const level of [0, 1]) {
      for (const block of ["shared_expert0/dense0", "source_expert0/dense0", "target_expert0/dense0", "source_gate", "target_gate"]) {
        expect(names.has(`ple/ple/level${level}/${block}/kernel`), `level${level}/${block}`).toBe(true);
      }
    }
    const batch = randomTensors(schema, { source: 5, target: 4 }, 2);
    tf.tidy(() => {
      for (const [entity, rows] of [["source", 5], ["target", 4]] as const) {
        const { output, gates } = model.extract(batch, entity);
        expect(output.shape).toEqual([rows, 8]);
        expect(gates).toHaveLength(2);
        for (const gate of gates) {
          expect(gate.shape).toEqual([rows, 2]);
          expectClose(tf.sum(gate, 1), new Array<number>(rows).fill(1));
        }
      }
    });
    const targetOnly = randomTensors(schema, { source: 0, target: 6 }, 3);
    const grads = gradientMagnitudes(model.namedVariables(), () => model.loss(targetOnly).total);
    for (const level of [0, 1]) {
      expect(grads.get(`ple/ple/level${level}/shared_expert0/dense0/kernel`)).toBeGreaterThan(0);
      expect(grads.get(`ple/ple/level${level}/target_expert0/dense0/kernel`)).toBeGreaterThan(0);
      expect(grads.get(`ple/ple/level${level}/target_gate/kernel`)).toBeGreaterThan(0);
      expect(grads.get(`ple/ple/level${level}/source_expert0/dense0/kernel`)).toBe(0);
      expect(grads.get(`ple/ple/level${level}/source_gate/kernel`)).toBe(0);
    }
    expect(grads.get("ple/tower_source/logit/kernel")).toBe(0);
    disposeBatchTensors(batch);
    disposeBatchTensors(targetOnly);
    model.dispose();
  });
});

describeLearning("PLE", pleRecipe, testSpec({}, { max_epochs: 1 }), 0.57, "logistic regression 0.60–0.62; one epoch of PLE 0.605–0.622 over seeds 1–3");
