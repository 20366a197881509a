import type { DuckDBConnection } from "@duckdb/node-api";
import type { DatasetSpec } from "../../spec/dataset.ts";
import { FieldError } from "../../util/errors.ts";
import type { EntityName } from "../batch.ts";
import { queryObjects, queryValue, sqlIdent } from "../duck.ts";
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
    // Without a time column, a user's rows in file order are their history: t = relative position in (0, 1).
    const time = e.time_column
      ? timeExpr("t_raw")
      : "(row_number() OVER (PARTITION BY user_raw ORDER BY _row) - 0.5) / count(*) OVER (PARTITION BY user_raw)";
    // A view unless negatives are to be inserted: the rows are materialized once, in samples.
    const kind = e.negatives ? "TABLE" : "VIEW";
    await con.run(
      `CREATE ${kind} ${sqlIdent(`log_${entity}`)} AS SELECT ${code} AS entity, _row, 0 AS _neg, user_raw, item_raw, ${time} AS t, ${labelExpr(e, "label_raw")} AS label, ${fieldCols.join(", ")} FROM ${sqlIdent(`ent_${entity}`)}`,
    );
    if (e.negatives) await addSampledNegatives(con, spec, entity, own);
    parts.push(`SELECT * FROM ${sqlIdent(`log_${entity}`)}`);
  }
  await con.run(`CREATE VIEW logged AS ${parts.join(" UNION ALL BY NAME ")}`);
  await con.run(`CREATE TABLE samples AS ${await splitQuery(con, spec)}`);
  // Dense user keys (all users, for GAUC grouping) and training clicks per user (for user groups).
  await con.run(`
    CREATE TABLE users AS
    SELECT user_raw, (row_number() OVER (ORDER BY CAST(user_raw AS VARCHAR)))::INTEGER AS user_key,
           (count(*) FILTER (WHERE split = 'train' AND label = 1))::INTEGER AS user_clicks
    FROM samples GROUP BY user_raw`);
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
    SELECT *, sum(w) OVER (ORDER BY CAST(item_raw AS VARCHAR)) - w AS lo, sum(w) OVER (ORDER BY CAST(item_raw AS VARCHAR)) AS hi
    FROM (SELECT item_raw, ${itemCols.map((c) => `any_value(${c}) AS ${c}`).join(", ")}, ${weight} AS w FROM ${log} GROUP BY item_raw)`);
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

/** The query giving `logged` plus `slice` and `split` (train / valid / test), by time slice or by per-user order. */
async function splitQuery(con: DuckDBConnection, spec: DatasetSpec): Promise<string> {
  if (spec.split.by === "time") {
    const slice = spec.split.slice_seconds;
    const [range] = await queryObjects(con, `SELECT max(floor(t / ${slice})) AS last, count(DISTINCT floor(t / ${slice})) AS slices FROM logged WHERE entity = 1`);
    const last = Number(range!.last);
    const slices = Number(range!.slices);
    if (slices < 3) {
      throw new FieldError("split.slice_seconds", `the target log spans ${slices} time slice(s); a time split needs at least 3 (train, valid, test)`);
    }
    // Target: test = last slice, valid = the one before. Source rows of those slices are not trained on.
    return `
      SELECT *, CASE
        WHEN entity = 1 AND slice = ${last} THEN 'test'
        WHEN entity = 1 AND slice = ${last - 1} THEN 'valid'
        WHEN entity = 0 AND slice >= ${last - 1} THEN 'test'
        ELSE 'train' END AS split
      FROM (SELECT *, floor(t / ${slice})::INTEGER AS slice FROM logged)`;
  }
  const { test_fraction: testFraction, valid_fraction: validFraction } = spec.split;
  return `
    WITH target AS (
      SELECT *, CASE
        WHEN pos > n - round(n * ${testFraction}) THEN 'test'
        WHEN pos > n - round(n * ${testFraction}) - round(n * ${validFraction}) THEN 'valid'
        ELSE 'train' END AS split
      FROM (SELECT *, row_number() OVER (PARTITION BY user_raw ORDER BY t, _row, _neg) AS pos, count(*) OVER (PARTITION BY user_raw) AS n
            FROM logged WHERE entity = 1)),
    -- Source rows at or after a user's first held-out target row are that user's future: not trained on.
    cutoff AS (SELECT user_raw, min(t) AS cutoff FROM target WHERE split <> 'train' GROUP BY 1)
    SELECT * EXCLUDE (pos, n), 0 AS slice FROM target
    UNION ALL BY NAME
    SELECT l.*, 0 AS slice, CASE WHEN l.t >= c.cutoff THEN 'test' ELSE 'train' END AS split
    FROM logged l LEFT JOIN cutoff c USING (user_raw) WHERE l.entity = 0`;
}
