import { join } from "node:path";
import { openDuck, queryObjects, sqlIdent, sqlString } from "../../data/duck.ts";
import type { PreparedDataset } from "../../data/reader.ts";
import type { PreparedSchema } from "../../data/schema.ts";
import { evaluate, type PredictionRows, type SplitEvaluation } from "../../metrics/index.ts";
import { UserError } from "../../util/errors.ts";

/**
 * The floor and ceiling rows of Table 2 (SPEC §4): scorers that are not trained, run and reported
 * like the models (result.json, predictions.csv) under the category "reference".
 * - ItemPop: the item's click-through rate in the target training split, unsmoothed (SPEC's
 *   definition); an item without training impressions gets the split's overall CTR.
 * - Oracle: the generator's true click probability `p_true` (generated data only).
 * Both score the target test split in its file order, the order every model's evaluation reads.
 */
export interface ReferenceRecipe {
  name: "itempop" | "oracle";
  /** Its row in Table 2. */
  label: string;
  category: "reference";
  /** Scores of the target test split's rows, in file order, with their labels, users and user groups. */
  score(dataset: PreparedDataset): Promise<PredictionRows>;
}

export function isReferenceRecipe(recipe: { category: string }): recipe is ReferenceRecipe {
  return recipe.category === "reference";
}

export const itemPopRecipe: ReferenceRecipe = {
  name: "itempop",
  label: "ItemPop (floor)",
  category: "reference",
  score: (dataset) => {
    const train = splitFile(dataset, "target/train");
    return testRows(
      dataset,
      "COALESCE(i.clicks / i.impressions, g.ctr)",
      `LEFT JOIN (SELECT item_row, sum(label)::DOUBLE AS clicks, count(*)::DOUBLE AS impressions FROM ${train} GROUP BY item_row) i USING (item_row)
       CROSS JOIN (SELECT sum(label)::DOUBLE / count(*) AS ctr FROM ${train}) g`,
    );
  },
};

export const oracleRecipe: ReferenceRecipe = {
  name: "oracle",
  label: "Oracle (ceiling)",
  category: "reference",
  score: async (dataset) => {
    const truth = dataset.schema.trueProbability;
    if (!truth?.entities.includes("target")) {
      throw new UserError(`${dataset.dir}: the prepared dataset has no true click probabilities (only generated data has them): no Oracle`);
    }
    return testRows(dataset, `t.${sqlIdent(truth.column)}`, "");
  },
};

/** The references a run includes: ItemPop always, the Oracle where the data was generated. */
export function referenceRecipes(schema: PreparedSchema): ReferenceRecipe[] {
  return schema.trueProbability?.entities.includes("target") ? [itemPopRecipe, oracleRecipe] : [itemPopRecipe];
}

/** ItemPop's or the Oracle's evaluation on the target test split, as evaluateSplit gives a model's. */
export async function evaluateReference(recipe: ReferenceRecipe, dataset: PreparedDataset): Promise<SplitEvaluation> {
  const started = performance.now();
  const rows = await recipe.score(dataset);
  const seconds = (performance.now() - started) / 1000;
  const metrics = evaluate({ ...rows, thresholds: dataset.schema.userGroups });
  return { metrics, rows, seconds, samplesPerSecond: rows.scores.length / seconds };
}

function splitFile(dataset: PreparedDataset, name: "target/train" | "target/test"): string {
  const split = dataset.schema.splits[name];
  if (!split) throw new UserError(`${dataset.dir}: the prepared dataset has no ${name} split`);
  return `read_parquet(${sqlString(join(dataset.dir, split.file))}, file_row_number = true)`;
}

/** The target test split's rows (`t`, joined with `joins`) in file order, scored by the SQL expression `score`. */
async function testRows(dataset: PreparedDataset, score: string, joins: string): Promise<PredictionRows> {
  const duck = await openDuck({ threads: 1 });
  try {
    const result = await queryObjects(
      duck.con,
      `SELECT t.label, t.user_key, t.user_clicks, ${score} AS score FROM ${splitFile(dataset, "target/test")} t ${joins} ORDER BY t.file_row_number`,
    );
    const n = result.length;
    const rows: PredictionRows = { scores: new Float32Array(n), labels: new Float32Array(n), userKey: new Int32Array(n), userClicks: new Int32Array(n) };
    result.forEach((r, i) => {
      rows.scores[i] = Number(r.score);
      rows.labels[i] = Number(r.label);
      rows.userKey[i] = Number(r.user_key);
      rows.userClicks[i] = Number(r.user_clicks);
    });
    return rows;
  } finally {
    duck.close();
  }
}
