import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import type { EntityName } from "../../../src/data/batch.ts";
import { ParamInit } from "../../../src/layers/params.ts";
import { ConetModel, conetRecipe } from "../../../src/models/baselines/conet.ts";
import { disposeBatchTensors } from "../../../src/models/inputs.ts";
import { gradientMagnitudes, randomTensors, SMALL_SIZES, testSchema } from "../helpers.ts";
import { describeLearning, expectProbabilities, testSpec } from "./stage-context.ts";

const schema = testSchema();
const build = (): ConetModel => new ConetModel("conet", new ParamInit(1), { schema, sizes: SMALL_SIZES });

describe("ConetModel", () => {
  beforeAll(async () => {
    await tf.setBackend("cpu");
  });

  it("predicts a probability per row of a mixed batch; the loss has a part per entity", () => {
    expectProbabilities(build(), randomTensors(schema, { source: 5, target: 4 }), ["source", "target"], ["bce_source", "bce_target"]);
  });

  it("has one cross matrix per cross-connected layer, shared by both directions: either entity's loss reaches it", () => {
    const model = build();
    // sizes.mlp [16, 8]: one cross unit H_0 [16, 8] between the hidden layers, without bias.
    expect([...model.namedVariables().keys()].filter((name) => name.includes("/cross"))).toEqual(["conet/cross0/kernel"]);
    expect(model.crossUnits.map((h) => h.kernel.shape)).toEqual([[16, 8]]);
    for (const [entity, other] of [["source", "target"], ["target", "source"]] as Array<[EntityName, EntityName]>) {
      const batch = randomTensors(schema, { source: entity === "source" ? 8 : 0, target: entity === "target" ? 8 : 0 }, 3);
      const grads = gradientMagnitudes(model.namedVariables(), () => model.loss(batch).total);
      expect(grads.get("conet/cross0/kernel")).toBeGreaterThan(0);
      // The other network feeds this entity's rows only through H: its layers learn, its tower does not.
      expect(grads.get(`conet/${other}_net/dense0/kernel`)).toBeGreaterThan(0);
      expect(grads.get(`conet/tower_${other}/logit/kernel`)).toBe(0);
      disposeBatchTensors(batch);
    }
    model.dispose();
  });
});

describeLearning("CoNet", conetRecipe, testSpec(), 0.56, "logistic regression 0.60–0.62; CoNet 0.61–0.64 over seeds 1–3");
