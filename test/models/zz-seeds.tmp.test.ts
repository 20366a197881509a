import { afterAll, beforeAll, it } from "vitest";
import type { PreparedDataset } from "../../src/data/reader.ts";
import { selectBackend } from "../../src/engine/backend.ts";
import { dinRecipe } from "../../src/models/baselines/din.ts";
import { starRecipe } from "../../src/models/baselines/star.ts";
import { SMALL_SIZES } from "./helpers.ts";
import { openSyntheticTiny, testAuc, testSpec, TrainingContext } from "./baselines/stage-context.ts";

let dataset: PreparedDataset;
let close: (() => Promise<void>) | undefined;
beforeAll(async () => {
  await selectBackend("wasm");
  ({ dataset, close } = await openSyntheticTiny());
});
afterAll(async () => close?.());

it("seeds", async () => {
  const runs = [
    ["din", dinRecipe, testSpec({}, { max_epochs: 2, patience: 2 })],
    ["star", starRecipe, testSpec({ sizes: { ...SMALL_SIZES, mlp: [32, 16], tower: [16] } }, { max_epochs: 1 })],
  ] as const;
  for (const [name, recipe, spec] of runs) {
    const aucs: string[] = [];
    for (const seed of [1, 2, 3]) {
      const model = await recipe.train(new TrainingContext(dataset, spec, seed));
      aucs.push((await testAuc(model, dataset)).toFixed(4));
      model.module.dispose();
    }
    console.log(`SEEDS ${name}: ${aucs.join(" ")}`);
  }
}, 600_000);
