import * as tf from "@tensorflow/tfjs";
import { it } from "vitest";
import { conetRecipe } from "../../../src/models/baselines/conet.ts";
import { minetRecipe } from "../../../src/models/baselines/minet.ts";
import { finetuneRecipe } from "../../../src/models/baselines/finetune.ts";
import { ctnetRecipe } from "../../../src/models/baselines/ctnet.ts";
import { openSyntheticTiny, testAuc, testSpec, TrainingContext } from "./stage-context.ts";

it("probe", async () => {
  await tf.setBackend("cpu");
  let t = performance.now();
  const { dataset, close } = await openSyntheticTiny();
  console.log("prepare", (performance.now() - t) / 1000, await dataset.slices("train", ["source", "target"]), dataset.rowCount({ split: "train", entities: ["source"] }), dataset.rowCount({ split: "train", entities: ["target"] }));
  const which = (process.env.PROBE ?? "conet,minet,finetune,ctnet").split(",");
  const recipes = { conet: conetRecipe, minet: minetRecipe, finetune: finetuneRecipe, ctnet: ctnetRecipe };
  for (const seed of (process.env.SEEDS ?? "1").split(",").map(Number)) for (const name of which) {
    t = performance.now();
    const ctx = new TrainingContext(dataset, testSpec({ continual: process.env.CONT === "1" }, { max_epochs: Number(process.env.EPOCHS ?? 2) }), seed);
    const model = await recipes[name as keyof typeof recipes].train(ctx);
    const auc = await testAuc(model, dataset);
    console.log(name, seed, "auc", auc.toFixed(4), "s", ((performance.now() - t) / 1000).toFixed(1), ctx.calls.map((c) => `${c.name}:${c.result.epochs.map((e) => e.validAuc.toFixed(3) + "/" + e.samples).join(",")}`).join(" "));
    model.module.dispose();
  }
  await close();
}, 600_000);
