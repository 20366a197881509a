import type { DuckDBConnection } from "@duckdb/node-api";
import type { DatasetSpec } from "../../spec/dataset.ts";
import { FieldError } from "../../util/errors.ts";
import { ENTITY_NAMES, type EntityName } from "../batch.ts";
import { queryObjects, sqlIdent } from "../duck.ts";
import { labelExpr, timeExpr, type FieldPlan } from "./entities.ts";
import { addSampledNegatives, type NegativeSampling } from "./negatives.ts";

/**
 * Builds `samples` from the validated entity tables: one row per impression of either entity with
 * entity (0 source, 1 target), user and item (raw strings), time t (seconds), label, split, and
 * every field's raw value (NULL for the other entity's specific fields).
 *
 * The split is made on the rows as logged (impressions, or positives for a log of positives only);
 * then the negatives of a log of positives only are sampled inside each positive's split.
 */
export async function buildSamples(con: DuckDBConnection, spec: DatasetSpec, plans: FieldPlan[]): Promise<NegativeSampling[]> {
  const parts: string[] = [];
  for (const [code, entity] of ENTITY_NAMES.entries()) {
    const e = spec.entities[entity];
    const own = ownPlans(plans, entity);
    const numeric = new Set(own.filter((p) => p.field.type === "numeric").map((p) => p.column));
    const fieldCols = own.map((p) => (numeric.has(p.column) ? `TRY_CAST(${sqlIdent(p.column)} AS DOUBLE)` : sqlIdent(p.column)) + ` AS ${sqlIdent(p.column)}`);
    // Without a time column, a user's rows in file order are their history: t = relative position in (0, 1).
    const time = e.time_column
      ? timeExpr("t_raw")
      : "(row_number() OVER (PARTITION BY user_raw ORDER BY _row) - 0.5) / count(*) OVER (PARTITION BY user_raw)";
    await con.run(
      `CREATE VIEW ${sqlIdent(`log_${entity}`)} AS SELECT ${code} AS entity, _row, 0 AS _neg, user_raw, item_raw, ${time} AS t, ${labelExpr(e, "label_raw")} AS label, ${fieldCols.join(", ")} FROM ${sqlIdent(`ent_${entity}`)}`,
    );
    parts.push(`SELECT * FROM ${sqlIdent(`log_${entity}`)}`);
  }
  await con.run(`CREATE VIEW logged AS ${parts.join(" UNION ALL BY NAME ")}`);
  await con.run(`CREATE TABLE samples AS ${await splitQuery(con, spec)}`);
  const sampled: NegativeSampling[] = [];
  for (const entity of ["source", "target"] as const) {
    if (spec.entities[entity].negatives) sampled.push(await addSampledNegatives(con, spec, entity, ownPlans(plans, entity)));
  }
  // Dense user keys (all users, for GAUC grouping) and training clicks per user (for user groups).
  await con.run(`
    CREATE TABLE users AS
    SELECT user_raw, (row_number() OVER (ORDER BY CAST(user_raw AS VARCHAR)))::INTEGER AS user_key,
           (count(*) FILTER (WHERE split = 'train' AND label = 1))::INTEGER AS user_clicks
    FROM samples GROUP BY user_raw`);
  return sampled;
}

/** The fields read from an entity's rows (user, shared and its own specific fields; not derived ones). */
function ownPlans(plans: FieldPlan[], entity: EntityName): FieldPlan[] {
  return plans.filter((p) => (p.entity === "both" || p.entity === entity) && !p.field.derive);
}

/** The split rule in words (schema.json), and why it keeps some source rows out of training (stats.json). */
export function describeSplit(spec: DatasetSpec): { detail: string; leftOutReason: string } {
  const counted = spec.entities.target.negatives ? "positives (negatives are sampled after the split, inside it)" : "rows";
  const order = spec.entities.target.time_column ? "in time order" : "in file order (no time column)";
  const future =
    spec.entities.target.time_column && spec.entities.source.time_column
      ? "at or after the user's first held-out target row (by time): the user's future, which training must not see"
      : "at or after the user's first held-out target row, compared by relative position in the user's rows of each entity (no time column): taken as the user's future, which training must not see";
  switch (spec.split.by) {
    case "time":
      return {
        detail: `target test = last time slice of ${spec.split.slice_seconds} s, valid = the slice before; source rows of those slices are not trained on`,
        leftOutReason: "in the target's valid and test time slices: the future of the training slices",
      };
    case "user_order":
      return {
        detail: `per user, target ${counted} ${order}: the last ${spec.split.test_fraction} (rounded) → test, the ${spec.split.valid_fraction} before → valid; source rows at or after a user's first held-out target row are not trained on`,
        leftOutReason: future,
      };
    case "user_last":
      return {
        detail: `leave-last-out: per user, target ${counted} ${order}: the last ${spec.split.test} → test, the ${spec.split.valid} before → valid; source rows at or after a user's first held-out target row are not trained on`,
        leftOutReason: future,
      };
  }
}

/** The query giving `logged` plus `slice` and `split` (train / valid / test), by time slice or by per-user order (a share, or the last rows). */
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
  // Per user, the last rows of the target log as logged (positives only, for a log of positives only) are held out.
  const held =
    spec.split.by === "user_order"
      ? { test: `round(n * ${spec.split.test_fraction})`, valid: `round(n * ${spec.split.valid_fraction})` }
      : { test: String(spec.split.test), valid: String(spec.split.valid) };
  return `
    WITH target AS (
      SELECT *, CASE
        WHEN pos > n - ${held.test} THEN 'test'
        WHEN pos > n - ${held.test} - ${held.valid} THEN 'valid'
        ELSE 'train' END AS split
      FROM (SELECT *, row_number() OVER (PARTITION BY user_raw ORDER BY t, _row) AS pos, count(*) OVER (PARTITION BY user_raw) AS n
            FROM logged WHERE entity = 1)),
    -- Source rows at or after a user's first held-out target row are that user's future: not trained on.
    cutoff AS (SELECT user_raw, min(t) AS cutoff FROM target WHERE split <> 'train' GROUP BY 1)
    SELECT * EXCLUDE (pos, n), 0 AS slice FROM target
    UNION ALL BY NAME
    SELECT l.*, 0 AS slice, CASE WHEN l.t >= c.cutoff THEN 'test' ELSE 'train' END AS split
    FROM logged l LEFT JOIN cutoff c USING (user_raw) WHERE l.entity = 0`;
}
