import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PreparedDataset } from "../../../src/data/reader.ts";
import { selectBackend } from "../../../src/engine/backend.ts";
import { ParamInit } from "../../../src/layers/params.ts";
import { buildFinetuneNet, FinetuneNet, finetuneRecipe } from "../../../src/models/baselines/finetune.ts";
import { disposeBatchTensors } from "../../../src/models/inputs.ts";
import type { CtrModel } from "../../../src/models/model.ts";
import { randomTensors, SMALL_SIZES, testSchema } from "../helpers.ts";
import { openSyntheticTiny, range, testAuc, testSpec, TrainingContext, values } from "./stage-context.ts";

describe("FinetuneNet", () => {
  const schema = testSchema();
  beforeAll(async () => {
    await tf.setBackend("cpu");
  });

  it("reads every row through its entity's path and trains on its entity's rows", () => {
    const batch = randomTensors(schema, { source: 5, target: 4 });
    for (const entity of ["source", "target"] as const) {
      const model = new FinetuneNet("finetune", new ParamInit(1), { schema, sizes: SMALL_SIZES }, entity);
      expect(model.trainEntities).toEqual([entity]);
      tf.tidy(() => {
        const p = model.predictTarget(batch);
        expect(p.shape).toEqual([9]);
        const [low, high] = range(p);
        expect(low).toBeGreaterThan(0);
        expect(high).toBeLessThan(1);
        expect(Object.keys(model.loss(batch).parts)).toEqual([`bce_${entity}`]);
      });
      model.dispose();
    }
    disposeBatchTensors(batch);
  });
});

describe("Finetune on synthetic-tiny", () => {
  let dataset: PreparedDataset;
  let close: (() => Promise<void>) | undefined;
  let context: TrainingContext;
  let model: CtrModel;
  let tensorsBefore: number;
  const weights: Record<"pretrainStart" | "pretrained" | "finetuneStart", Map<string, Float32Array>> = {
    pretrainStart: new Map(),
    pretrained: new Map(),
    finetuneStart: new Map(),
  };

  beforeAll(async () => {
    await selectBackend("wasm");
    ({ dataset, close } = await openSyntheticTiny());
    // One epoch per stage: the two stages together train as long as the single-stage tests.
    context = new TrainingContext(dataset, testSpec({}, { max_epochs: 1 }), 1, {
      before: (name, m) => (weights[name === "pretrain" ? "pretrainStart" : "finetuneStart"] = values(m.module.namedVariables())),
      after: (name, m) => void (name === "pretrain" && (weights.pretrained = values(m.module.namedVariables()))),
    });
    tensorsBefore = tf.memory().numTensors;
    model = await context.train(finetuneRecipe);
  });
  afterAll(async () => close?.());

  it("pre-trains on source rows, then fine-tunes on target rows", () => {
    expect(context.calls.map((c) => [c.name, c.options.entities])).toEqual([
      ["pretrain", ["source"]],
      ["finetune", ["target"]],
    ]);
    const [pretrain, finetune] = context.calls;
    expect(pretrain!.result.epochs[0]!.samples).toBe(dataset.rowCount({ split: "train", entities: ["source"] }));
    expect(finetune!.result.epochs[0]!.samples).toBe(dataset.rowCount({ split: "train", entities: ["target"] }));
  });

  it("starts fine-tuning from the pre-trained weights; only target-specific parts are fresh", () => {
    const { pretrainStart, pretrained, finetuneStart } = weights;
    const fresh = buildFinetuneNet(context, "target");
    const freshValues = values(fresh.namedVariables());
    fresh.dispose();
    const shared = [...finetuneStart.keys()].filter((name) => pretrained.has(name));
    const own = [...finetuneStart.keys()].filter((name) => !pretrained.has(name));
    for (const name of shared) expect(finetuneStart.get(name), name).toEqual(pretrained.get(name));
    for (const name of own) expect(finetuneStart.get(name), name).toEqual(freshValues.get(name));
    expect(own.sort()).toEqual(["finetune/fc_target/bias", "finetune/fc_target/kernel", "finetune/features/emb/target__media_type/table", "finetune/features/emb/target__style/table"]);
    // What is carried over was learned: pre-training changed it.
    for (const name of ["finetune/dnn/dense0/kernel", "finetune/tower/logit/kernel", "finetune/features/emb/user__user_id/table", "finetune/features/emb/target__item_id/table"]) {
      expect(shared).toContain(name);
      expect(pretrained.get(name), name).not.toEqual(pretrainStart.get(name));
    }
  });

  // Logistic regression reaches a target test AUC of 0.60–0.62 here; Finetune, one epoch per stage, gives 0.59–0.60 over seeds 1–3.
  it("learns: target test AUC well above chance", async () => {
    const auc = await testAuc(model, dataset);
    console.log(`Finetune target test AUC ${auc.toFixed(4)}`);
    expect(auc).toBeGreaterThan(0.56);
  });

  it("leaves nothing behind once the returned model is disposed (the pre-trained network was freed)", () => {
    model.module.dispose();
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });
});
