import { join } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import type { DatasetSpec } from "../../spec/dataset.ts";
import { queryObjects, sqlIdent, sqlString } from "../duck.ts";
import { ENTITY_NAMES } from "../batch.ts";
import type { PreparedFeature } from "../schema.ts";
import type { FieldPlan } from "./entities.ts";

/** SQL condition selecting the rows a feature applies to. */
function appliesTo(plan: FieldPlan, prefix: string): string {
  return plan.entity === "both" ? "TRUE" : `${prefix}entity = ${ENTITY_NAMES.indexOf(plan.entity)}`;
}

/**
 * Fits every feature on the training split only (vocabularies by frequency with ids from 2;
 * quantile bucket boundaries for numeric fields), writes `vocab/<column>.tsv`, and creates
 * `encoded`: samples with every feature replaced by its id (0 missing, 1 out-of-vocabulary).
 */
export async function fitAndEncode(con: DuckDBConnection, spec: DatasetSpec, plans: FieldPlan[], outDir: string): Promise<PreparedFeature[]> {
  // Derived item_popularity: the item's number of training rows as logged in its own entity (impressions,
  // or positives for a log of positives only: never sampled negatives); 0 if never in train.
  const derived = plans.filter((p) => p.field.derive === "item_popularity");
  if (derived.length === 0) {
    // Nothing derived: every fit and the encoding read the samples themselves (a view joining
    // popularity would be joined again by each of them).
    await con.run("CREATE VIEW fitted AS SELECT * FROM samples");
  } else {
    await con.run(`CREATE TABLE popularity AS SELECT entity, item_raw, count(*)::DOUBLE AS n FROM samples WHERE split = 'train' AND _neg = 0 GROUP BY 1, 2`);
    await con.run(`
      CREATE TABLE fitted AS
      SELECT s.*${derived.map((p) => `, CASE WHEN ${appliesTo(p, "s.")} THEN COALESCE(pop.n, 0) END AS ${sqlIdent(p.column)}`).join("")}
      FROM samples s LEFT JOIN popularity pop ON pop.entity = s.entity AND pop.item_raw = s.item_raw`);
  }

  const features: PreparedFeature[] = [];
  const encodedCols: string[] = [];
  const joins: string[] = [];
  for (const [index, plan] of plans.entries()) {
    const col = sqlIdent(plan.column);
    const numeric = plan.field.type === "numeric" || plan.field.derive !== undefined;
    const base = {
      name: plan.field.name,
      column: plan.column,
      group: plan.group,
      entity: plan.entity,
      ...(plan.implicit ? { implicit: true as const } : {}),
      ...(plan.field.derive ? { derive: plan.field.derive } : {}),
    };
    const trainRows = `FROM fitted WHERE split = 'train' AND ${appliesTo(plan, "")} AND ${col} IS NOT NULL`;
    if (numeric) {
      const probs = Array.from({ length: plan.field.buckets - 1 }, (_, i) => (i + 1) / plan.field.buckets);
      const [row] = await queryObjects(con, `SELECT quantile_cont(${col}, [${probs.join(", ")}]) AS q ${trainRows}`);
      const boundaries = [...new Set(((row?.q as number[] | null) ?? []).map(Number))].sort((a, b) => a - b);
      // id = 2 + number of boundaries ≤ value; missing → 0.
      const cases = boundaries.map((b, i) => `WHEN s.${col} < ${b} THEN ${i + 2}`).join(" ");
      encodedCols.push(`(CASE WHEN s.${col} IS NULL THEN 0 ${cases} ELSE ${boundaries.length + 2} END)::INTEGER AS ${col}`);
      features.push({ ...base, type: "numeric", vocabSize: boundaries.length + 3, boundaries });
    } else {
      const vocab = sqlIdent(`vocab_${index}`);
      await con.run(`
        CREATE TABLE ${vocab} AS
        SELECT value, (row_number() OVER (ORDER BY cnt DESC, CAST(value AS VARCHAR)) + 1)::INTEGER AS idx, cnt
        FROM (SELECT ${col} AS value, count(*) AS cnt ${trainRows} GROUP BY 1 HAVING count(*) >= ${spec.vocab_min_count})`);
      await con.run(`COPY (SELECT idx, value, cnt AS train_count FROM ${vocab} ORDER BY idx) TO ${sqlString(join(outDir, "vocab", `${plan.column}.tsv`))} (HEADER, DELIMITER '\t')`);
      const [size] = await queryObjects(con, `SELECT count(*) AS n FROM ${vocab}`);
      joins.push(`LEFT JOIN ${vocab} v${index} ON v${index}.value = s.${col}`);
      encodedCols.push(`(CASE WHEN s.${col} IS NULL THEN 0 ELSE COALESCE(v${index}.idx, 1) END)::INTEGER AS ${col}`);
      features.push({ ...base, type: "categorical", vocabSize: Number(size?.n ?? 0) + 2 });
    }
  }
  await con.run(`
    CREATE TABLE encoded AS
    SELECT s.entity::INTEGER AS entity, s._row, s._neg, s.item_raw, s.split, s.slice::INTEGER AS slice, s.t, s.label::INTEGER AS label,
           u.user_key, u.user_clicks, ${encodedCols.join(", ")}
    FROM fitted s JOIN users u USING (user_raw) ${joins.join(" ")}`);
  return features;
}
