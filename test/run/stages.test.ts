import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { Module, ParamInit } from "../../src/layers/params.ts";
import type { CtrModel } from "../../src/models/model.ts";
import { RecipeModels, type BuildContext, type ModelRecipe, type Stage, type StageRecord } from "../../src/models/recipe.ts";
import { runStages } from "../../src/run/stages.ts";

/** A model of one [2, 2] weight, frozen by the model that owns it (as TEM freezes MEM). */
class Toy extends Module implements CtrModel {
  readonly trainEntities = ["target" as const];
  readonly weight: tf.Variable;
  readonly owned: Toy[];

  constructor(name: string, owned: Toy[] = []) {
    super(name);
    this.weight = this.param("w", new ParamInit(1).glorotUniform([2, 2]));
    for (const o of owned) {
      o.setTrainable(false);
      this.child(o);
    }
    this.owned = owned;
  }

  get module(): Module {
    return this;
  }

  loss(): never {
    throw new Error("not trained here");
  }

  predictTarget(): never {
    throw new Error("not scored here");
  }
}

const context = { seed: 1 } as BuildContext;
const record = (stage: string): StageRecord => ({ stage, seconds: 0, epochsRun: 1, bestEpoch: 1, bestValidAuc: NaN, samplesPerSecond: 0, resumed: false });

/** pretrain trains "a"; "b" is built from "a" (reads: weights copied); "c" owns "b"; continual-style "b" trains again, thawed, after "c" froze it. */
const recipe: ModelRecipe = {
  name: "toy",
  category: "ours",
  models: {
    a: { build: () => new Toy("a") },
    b: {
      reads: ["a"],
      build: (_c, { a }) => {
        const b = new Toy("b");
        b.weight.assign((a as Toy).weight);
        return b;
      },
    },
    c: { owns: ["b"], build: (_c, { b }) => new Toy("c", [b as Toy]) },
  },
  stages: () => [],
  final: "c",
};
const stages: Stage[] = [
  { name: "pretrain", model: "a" },
  { name: "middle", model: "b" },
  { name: "top", model: "c" },
  { name: "again", model: "b", thaw: true },
];

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("runStages", () => {
  it("builds each model at its first stage, releases what no later stage needs, thaws, and returns the final model", async () => {
    const before = tf.memory().numTensors;
    const seen: string[] = [];
    let a: Toy | undefined;
    const { records, model } = await runStages(recipe, context, stages, async (stage, m) => {
      const toy = m as Toy;
      if (stage.name === "pretrain") a = toy;
      // "a" was read to build "b" and no later stage trains it: released as soon as "b" exists.
      if (stage.name === "middle") expect(a!.weight.isDisposed).toBe(true);
      seen.push(`${stage.name}:${toy.name}:${toy.trainableVariables().length}`);
      return record(stage.name);
    });
    expect(records.map((r) => r.stage)).toEqual(["pretrain", "middle", "top", "again"]);
    // "b" is frozen by "c" but trains in "again" (thawed), and is frozen again afterwards.
    expect(seen).toEqual(["pretrain:a:1", "middle:b:1", "top:c:1", "again:b:1"]);
    const top = model as Toy;
    expect(top.name).toBe("c");
    expect(top.owned[0]!.trainableVariables()).toHaveLength(0);
    // Only the final model (with the model it owns) is left.
    expect(tf.memory().numTensors).toBe(before + 2);
    top.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("stops after a stage without an exception and releases every model", async () => {
    const before = tf.memory().numTensors;
    const visited: string[] = [];
    const run = await runStages(recipe, context, stages, async (stage) => (visited.push(stage.name), record(stage.name)), "top");
    expect(visited).toEqual(["pretrain", "middle", "top"]);
    expect(run.model).toBeUndefined();
    expect(run.records).toHaveLength(3);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("releases every model when a stage fails, and names an unknown stage or model", async () => {
    const before = tf.memory().numTensors;
    await expect(runStages(recipe, context, stages, async (stage) => {
      if (stage.name === "top") throw new Error("boom");
      return record(stage.name);
    })).rejects.toThrow("boom");
    expect(tf.memory().numTensors).toBe(before);
    await expect(runStages(recipe, context, stages, async (s) => record(s.name), "nope")).rejects.toThrow("recipe toy has no stage 'nope'");
    expect(() => new RecipeModels(recipe, context).get("z")).toThrow("recipe toy has no model 'z'");
  });
});
