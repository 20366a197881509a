import { selectBackend } from "../../../src/engine/backend.ts";
import { conetRecipe } from "../../../src/models/baselines/conet.ts";
import { minetRecipe } from "../../../src/models/baselines/minet.ts";
import { finetuneRecipe } from "../../../src/models/baselines/finetune.ts";
import { ctnetRecipe } from "../../../src/models/baselines/ctnet.ts";
import { openSyntheticTiny, testAuc, testSpec, TrainingContext } from "./stage-context.ts";

await selectBackend("wasm");
const { dataset, close } = await openSyntheticTiny();
const which = (process.argv[2] ?? "conet,minet,finetune,ctnet").split(",");
const recipes = { conet: conetRecipe, minet: minetRecipe, finetune: finetuneRecipe, ctnet: ctnetRecipe };
for (const seed of (process.argv[3] ?? "1").split(",").map(Number)) for (const name of which) {
  const t = performance.now();
  const ctx = new TrainingContext(dataset, testSpec({ continual: process.argv[5] === "1" }, { max_epochs: Number(process.argv[4] ?? 2) }), seed);
  const model = await recipes[name as keyof typeof recipes].train(ctx);
  const auc = await testAuc(model, dataset);
  console.log(name, seed, "auc", auc.toFixed(4), "s", ((performance.now() - t) / 1000).toFixed(1), ctx.calls.map((c) => `${c.name}:${c.result.epochs.map((e) => e.validAuc.toFixed(3)).join(",")}`).join(" "));
  model.module.dispose();
}
await close();
