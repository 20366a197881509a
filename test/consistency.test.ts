import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sliceBatch, type Batch } from "../src/data/batch.ts";
import type { PreparedDataset } from "../src/data/reader.ts";
import { selectBackend } from "../src/engine/backend.ts";
import { loadBlas } from "../src/engine/blas.ts";
import { dinRecipe } from "../src/models/baselines/din.ts";
import { mlpRecipe } from "../src/models/baselines/mlp.ts";
import { mmoeRecipe } from "../src/models/baselines/mmoe.ts";
import { starRecipe } from "../src/models/baselines/star.ts";
import { mktRecipe } from "../src/models/mkt/recipe.ts";
import type { CtrModel } from "../src/models/model.ts";
import type { ModelRecipe } from "../src/models/recipe.ts";
import { predictBatch } from "../src/models/batch-loop.ts";
import { SCORE_TOLERANCE } from "./helpers/tolerance.ts";
import { useMode, type Mode } from "./helpers/kernel-modes.ts";
import { mlpReference64 } from "./helpers/reference64.ts";
import { openSyntheticTiny, testSpec, TrainingContext } from "./models/baselines/stage-context.ts";

/**
 * The promise of docs/performance.md ("Same numbers on every machine"): a trained model scores a
 * row within SCORE_TOLERANCE (absolute, on the probability) whatever the batch size and batch
 * composition, with or without OpenBLAS, with or without mkt's kernel overrides. Each model is
 * trained briefly on synthetic-tiny, then its target test split is scored with batch sizes 1, 7
 * and 1024 on every kernel path this machine has, and every pair of scorings is compared; the MLP
 * is also compared with a float64 forward pass computed from its weights.
 */
const BLAS = (await loadBlas()).blas !== undefined;
const MODES: Mode[] = ["wasm-original", "wasm-override", ...(BLAS ? (["wasm-blas"] as const) : [])];
const BATCH_SIZES = [1, 7, 1024];
const MODELS: Record<string, ModelRecipe> = { mlp: mlpRecipe, din: dinRecipe, mmoe: mmoeRecipe, star: starRecipe, mkt: mktRecipe() };

/** Scores of every row of `rows` in order, predicted `batchSize` rows at a time. */
async function score(model: CtrModel, rows: Batch, batchSize: number): Promise<Float32Array> {
  const scores = new Float32Array(rows.size);
  for (let start = 0; start < rows.size; start += batchSize) {
    const end = Math.min(rows.size, start + batchSize);
    scores.set(await predictBatch(model, sliceBatch(rows, start, end, false)), start);
  }
  return scores;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe(`consistency matrix: scores agree within ${SCORE_TOLERANCE} across batch sizes ${BATCH_SIZES.join(", ")} and kernel paths ${MODES.join(", ")}`, () => {
  let dataset: PreparedDataset;
  let close: () => Promise<void>;
  /** The target test split, read once into one batch in file order. */
  let test: Batch;
  const trained = new Map<string, CtrModel>();

  beforeAll(async () => {
    await selectBackend("wasm");
    ({ dataset, close } = await openSyntheticTiny());
    const read = { split: "test" as const, entities: ["target" as const] };
    for await (const batch of dataset.batches({ ...read, batchSize: dataset.rowCount(read) })) test = batch;
    // One epoch moves the weights well away from their initial values: the scores spread over (0, 1).
    const spec = testSpec({}, { max_epochs: 1 });
    for (const [name, recipe] of Object.entries(MODELS)) {
      trained.set(name, await new TrainingContext(dataset, spec, 1, {}, { validation: "none" }).train(recipe));
    }
  }, 600_000);

  afterAll(async () => {
    for (const model of trained.values()) model.module.dispose();
    await selectBackend("wasm");
    await close?.();
  });

  for (const name of Object.keys(MODELS)) {
    it(`${name}: every (path, batch size) pair within the tolerance; the same path and batch size bit for bit`, async () => {
      const model = trained.get(name)!;
      const scorings: { label: string; scores: Float32Array }[] = [];
      for (const mode of MODES) {
        await useMode(mode);
        for (const batchSize of BATCH_SIZES) scorings.push({ label: `${mode}, batch ${batchSize}`, scores: await score(model, test, batchSize) });
        // Same path, same batches: identical bits (a rerun on one machine is bit-identical).
        const again = await score(model, test, 7);
        expect(Buffer.from(again.buffer).equals(Buffer.from(scorings.at(-2)!.scores.buffer)), `${mode}: rerun at batch 7`).toBe(true);
      }
      const spread = Math.max(...scorings[0]!.scores) - Math.min(...scorings[0]!.scores);
      expect(spread, "trained scores spread over (0, 1)").toBeGreaterThan(0.05);
      let worst = { diff: 0, pair: "" };
      for (let i = 0; i < scorings.length; i++) {
        for (let j = i + 1; j < scorings.length; j++) {
          const diff = maxAbsDiff(scorings[i]!.scores, scorings[j]!.scores);
          if (diff > worst.diff) worst = { diff, pair: `${scorings[i]!.label} vs ${scorings[j]!.label}` };
        }
      }
      console.log(`${name}: ${test.size} rows, largest difference ${worst.diff.toExponential(2)} (${worst.pair || "none"})`);
      expect(worst.diff, worst.pair).toBeLessThanOrEqual(SCORE_TOLERANCE);
    }, 600_000);
  }

  it("mlp: every path matches a float64 forward pass of its weights within the tolerance", async () => {
    const model = trained.get("mlp")!;
    const reference = mlpReference64(model, dataset.schema, test);
    for (const mode of MODES) {
      await useMode(mode);
      const diff = maxAbsDiff(await score(model, test, 1024), reference);
      console.log(`mlp vs float64 on ${mode}: ${diff.toExponential(2)}`);
      expect(diff, mode).toBeLessThanOrEqual(SCORE_TOLERANCE);
    }
  });
});
