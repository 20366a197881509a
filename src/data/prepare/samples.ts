import type { DuckDBConnection } from "@duckdb/node-api";
import type { DatasetSpec } from "../../spec/dataset.ts";
import { UserError } from "../../util/errors.ts";
import type { EntityName } from "../batch.ts";
import { queryValue, sqlIdent } from "../duck.ts";
import { labelExpr, timeExpr, type FieldPlan } from "./entities.ts";

/**
 * Builds `samples` from the validated entity tables: one row per impression of either entity with
 * entity (0 source, 1 target), user and item (raw strings), time t (seconds), label, split, and
 * every field's raw value (NULL for the other entity's specific fields).
 */
export async function buildSamples(con: DuckDBConnection, spec: DatasetSpec, plans: FieldPlan[]): Promise<void> {
  const parts: string[] = [];
  for (const [code, entity] of [
    [0, "source"],
    [1, "target"],
  ] as const) {
    const e = spec.entities[entity];
    const own = plans.filter((p) => (p.entity === "both" || p.entity === entity) && !p.field.derive);
    const numeric = new Set(own.filter((p) => p.field.type === "numeric").map((p) => p.column));
    const fieldCols = own.map((p) => (numeric.has(p.column) ? `TRY_CAST(${sqlIdent(p.column)} AS DOUBLE)` : sqlIdent(p.column)) + ` AS ${sqlIdent(p.column)}`);
    const time = e.time_column ? timeExpr("t_raw") : "NULL::DOUBLE";
    await con.run(
      `CREATE TABLE ${sqlIdent(`log_${entity}`)} AS SELECT ${code} AS entity, _row, 0 AS _neg, user_raw, item_raw, ${time} AS t, ${labelExpr(e, "label_raw")} AS label, ${fieldCols.join(", ")} FROM ${sqlIdent(`ent_${entity}`)}`,
    );
    if (!e.time_column) {
      // Without a time column, a user's rows in file order are their history: t = relative position in (0, 1).
      await con.run(`
        UPDATE ${sqlIdent(`log_${entity}`)} SET t = r.t FROM (
          SELECT _row, (row_number() OVER (PARTITION BY user_raw ORDER BY _row) - 0.5) / count(*) OVER (PARTITION BY user_raw) AS t
          FROM ${sqlIdent(`log_${entity}`)}) r
        WHERE ${sqlIdent(`log_${entity}`)}._row = r._row`);
    }
    if (e.negatives) await addSampledNegatives(con, spec, entity, own);
    parts.push(`SELECT * FROM ${sqlIdent(`log_${entity}`)}`);
  }
  await con.run(`CREATE TABLE samples AS ${parts.join(" UNION ALL BY NAME ")}`);
  await assignSplit(con, spec);
  await con.run(`
    CREATE OR REPLACE TABLE samples AS
    SELECT s.*, (dense_rank() OVER (ORDER BY s.user_raw))::INTEGER AS user_key, COALESCE(c.clicks, 0)::INTEGER AS user_clicks
    FROM samples s LEFT JOIN (SELECT user_raw, count(*) AS clicks FROM samples WHERE split = 'train' AND label = 1 GROUP BY 1) c USING (user_raw)`);
}

/**
 * For a log of positives only: per positive, `per_positive` negatives drawn from the entity's items
 * (uniformly or by popularity), never an item the user clicked in this entity. Candidates are drawn
 * by hashing (seed, row, draw) so the result is deterministic; 4× oversampling makes a shortfall
 * rare (a user who clicked nearly every item can get fewer negatives).
 */
async function addSampledNegatives(con: DuckDBConnection, spec: DatasetSpec, entity: EntityName, own: FieldPlan[]): Promise<void> {
  const negatives = spec.entities[entity].negatives!;
  const log = sqlIdent(`log_${entity}`);
  const k = negatives.per_positive;
  const itemCols = own.filter((p) => p.group !== "user").map((p) => sqlIdent(p.column));
  const userCols = own.filter((p) => p.group === "user").map((p) => sqlIdent(p.column));
  const weight = negatives.strategy === "uniform" ? "1" : "count(*)";
  await con.run(`
    CREATE TEMP TABLE catalog AS
    SELECT item_raw, ${itemCols.map((c) => `any_value(${c}) AS ${c}`).join(", ")},
           sum(w) OVER (ORDER BY item_raw) - w AS lo, sum(w) OVER (ORDER BY item_raw) AS hi
    FROM (SELECT item_raw, ${itemCols.map((c) => `any_value(${c}) AS ${c}`).join(", ")}, ${weight} AS w FROM ${log} GROUP BY item_raw)
    GROUP BY item_raw, lo, hi`);
  const total = Number(await queryValue(con, "SELECT max(hi) FROM catalog"));
  await con.run(`
    CREATE TEMP TABLE drawn AS
    SELECT p._row, d.j, (hash(${spec.seed}, p._row, d.j, '${entity}') % ${total})::DOUBLE AS x
    FROM ${log} p CROSS JOIN range(${4 * k}) d(j)`);
  await con.run(`
    INSERT INTO ${log} BY NAME
    SELECT p.entity, p._row, n.rank AS _neg, p.user_raw, n.item_raw, p.t, 0 AS label,
           ${userCols.map((c) => `p.${c}`).join(", ")}${userCols.length ? "," : ""} ${itemCols.map((c) => `n.${c}`).join(", ")}
    FROM (
      SELECT d._row, c.*, row_number() OVER (PARTITION BY d._row ORDER BY d.j) AS rank
      FROM drawn d JOIN ${log} p ON p._row = d._row
      JOIN catalog c ON d.x >= c.lo AND d.x < c.hi
      WHERE NOT EXISTS (SELECT 1 FROM ${log} q WHERE q.user_raw = p.user_raw AND q.item_raw = c.item_raw)
      QUALIFY rank <= ${k}
    ) n JOIN ${log} p ON p._row = n._row AND p._neg = 0`);
  await con.run("DROP TABLE catalog; DROP TABLE drawn");
}

/** Adds `split` (train / valid / test) to samples, by time slice or by per-user order. */
async function assignSplit(con: DuckDBConnection, spec: DatasetSpec): Promise<void> {
  if (spec.split.by === "time") {
    const slice = spec.split.slice_seconds;
    await con.run(`ALTER TABLE samples ADD COLUMN slice INTEGER`);
    await con.run(`UPDATE samples SET slice = floor(t / ${slice})::INTEGER`);
    const last = Number(await queryValue(con, "SELECT max(slice) FROM samples WHERE entity = 1"));
    const slices = Number(await queryValue(con, "SELECT count(DISTINCT slice) FROM samples WHERE entity = 1"));
    if (slices < 3) {
      throw new UserError(`dataset spec: split.slice_seconds: the target log spans ${slices} time slice(s); a time split needs at least 3 (train, valid, test)`);
    }
    // Target: test = last slice, valid = the one before. Source rows of those slices are not trained on.
    await con.run(`
      ALTER TABLE samples ADD COLUMN split VARCHAR;
      UPDATE samples SET split = CASE
        WHEN entity = 1 AND slice = ${last} THEN 'test'
        WHEN entity = 1 AND slice = ${last - 1} THEN 'valid'
        WHEN entity = 0 AND slice >= ${last - 1} THEN 'test'
        ELSE 'train' END`);
    return;
  }
  const { test_fraction: testFraction, valid_fraction: validFraction } = spec.split;
  await con.run(`
    ALTER TABLE samples ADD COLUMN slice INTEGER DEFAULT 0;
    ALTER TABLE samples ADD COLUMN split VARCHAR;
    UPDATE samples SET split = r.split FROM (
      SELECT entity, _row, _neg, CASE
        WHEN pos > n - round(n * ${testFraction}) THEN 'test'
        WHEN pos > n - round(n * ${testFraction}) - round(n * ${validFraction}) THEN 'valid'
        ELSE 'train' END AS split
      FROM (SELECT entity, _row, _neg, row_number() OVER (PARTITION BY user_raw ORDER BY t, _row, _neg) AS pos, count(*) OVER (PARTITION BY user_raw) AS n
            FROM samples WHERE entity = 1)) r
    WHERE samples.entity = r.entity AND samples._row = r._row AND samples._neg = r._neg;
    UPDATE samples SET split = 'train' WHERE entity = 0;
    -- Source rows at or after a user's first held-out target row are that user's future: not trained on.
    UPDATE samples SET split = 'test' FROM (
      SELECT user_raw, min(t) AS cutoff FROM samples WHERE entity = 1 AND split <> 'train' GROUP BY 1) c
    WHERE samples.entity = 0 AND samples.user_raw = c.user_raw AND samples.t >= c.cutoff`);
}
