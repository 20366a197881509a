import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { prepareDataset } from "../src/data/prepare/index.ts";
import { PreparedDataset } from "../src/data/reader.ts";
import { selectBackend } from "../src/engine/index.ts";
import { recipeFor } from "../src/models/registry.ts";
import { datasetSpecSchema } from "../src/spec/dataset.ts";
import { parseSpecText } from "../src/spec/load.ts";
import { evaluateSplit } from "../src/train/evaluate.ts";
import { tempDir } from "./helpers/prepared.ts";
import { TrainingContext, testSpec } from "./models/baselines/stage-context.ts";

/**
 * Mechanism wins at tiny size (docs/results/mechanisms/ has every model at CPU size, 3 seeds): with
 * one taste for both entities and scarce target rows (3 per user beside 8 source rows each), a user's
 * taste can be learned only from their source clicks. The single-domain MLP cannot use them; STAR
 * (joint training) and Finetune (pre-training on source, then fine-tuning) do, and beat it in every
 * seed by a wide margin (measured 0.10–0.15 AUC at these sizes; the test asks for 0.03). MKT and
 * DIN are not asserted here: at this size their win over the MLP does not hold in every seed
 * (measured; see docs/results/mechanisms/ for what they do at CPU size).
 */
const SPEC = `name: scarce
generator: { kind: synthetic, seed: 3, users: 1500, days: 5, source_items: 800, target_items: 300, target_ctr: 0.15, source_ctr: 0.15, categories: 12, creators: 100, taste_correlation: 1, target_rows_per_user: 3, source_per_target: 8 }
tables:
  users: { path: users.parquet }
  source_items: { path: source_items.parquet }
  target_items: { path: target_items.parquet }
  source_impressions: { path: source_impressions.parquet }
  target_impressions: { path: target_impressions.parquet }
users: { table: users, key: user_id, fields: [{ name: gender }, { name: age_bucket }, { name: city }] }
entities:
  source: { name: product, table: source_impressions, time_column: ts, label: { column: click }, items: { table: source_items }, specific: [{ name: price, type: numeric }] }
  target: { name: content, table: target_impressions, time_column: ts, label: { column: click }, items: { table: target_items }, specific: [{ name: style }, { name: length, type: numeric }] }
shared: [{ name: category }, { name: creator_id }]
split: { by: time, slice_seconds: 86400 }
`;

const SEEDS = [1, 2];
const MARGIN = 0.03;

describe("planted transfer: scarce target rows, one taste for both entities", () => {
  let dataset: PreparedDataset;
  const aucs = new Map<string, number[]>();

  beforeAll(async () => {
    await selectBackend("wasm");
    const out = await tempDir("mkt-mechanisms-");
    const { dir } = await prepareDataset(parseSpecText("scarce.yaml", SPEC, datasetSpecSchema), out, { outRoot: out });
    dataset = await PreparedDataset.open(dir);
    const experiment = testSpec({}, { max_epochs: 2, batch_size: 256, learning_rate: 0.005 });
    for (const name of ["mlp", "star", "finetune"] as const) {
      const values: number[] = [];
      for (const seed of SEEDS) {
        const model = await new TrainingContext(dataset, experiment, seed).train(recipeFor(name));
        values.push((await evaluateSplit(model, dataset, { split: "test", batchSize: 4096 })).metrics.auc);
        model.module.dispose();
      }
      aucs.set(name, values);
    }
  }, 900_000);

  afterAll(() => dataset?.close());

  for (const model of ["star", "finetune"]) {
    it(`${model} beats the single-domain MLP by more than ${MARGIN} AUC in every seed`, () => {
      const mlp = aucs.get("mlp")!;
      const own = aucs.get(model)!;
      console.log(`${model} ${own.map((x) => x.toFixed(4)).join(", ")} vs MLP ${mlp.map((x) => x.toFixed(4)).join(", ")}`);
      SEEDS.forEach((seed, k) => expect(own[k]! - mlp[k]!, `seed ${seed}`).toBeGreaterThan(MARGIN));
    });
  }
});
