import type { DuckDBConnection } from "@duckdb/node-api";
import type { DatasetSpec, EntitySpec, FieldSpec } from "../../spec/dataset.ts";
import { UserError } from "../../util/errors.ts";
import type { EntityName } from "../batch.ts";
import { queryObjects, sqlIdent } from "../duck.ts";
import { rowLabel, type LoadedTable } from "./raw.ts";

/** A feature as prepare sees it: where its raw value comes from for each entity. */
export interface FieldPlan {
  field: FieldSpec;
  /** Final column name: user__x, shared__x, source__x, target__x. */
  column: string;
  group: "user" | "shared" | "specific";
  entity: "both" | EntityName;
}

export function planFields(spec: DatasetSpec): FieldPlan[] {
  const plans: FieldPlan[] = [
    { field: { name: "user_id", type: "categorical", buckets: 10 }, column: "user__user_id", group: "user", entity: "both" },
  ];
  for (const field of spec.users?.fields ?? []) plans.push({ field, column: `user__${field.name}`, group: "user", entity: "both" });
  for (const field of spec.shared) plans.push({ field, column: `shared__${field.name}`, group: "shared", entity: "both" });
  for (const entity of ["source", "target"] as const) {
    plans.push({ field: { name: "item_id", type: "categorical", buckets: 10 }, column: `${entity}__item_id`, group: "specific", entity });
    for (const field of spec.entities[entity].specific) plans.push({ field, column: `${entity}__${field.name}`, group: "specific", entity });
  }
  const seen = new Set<string>();
  for (const plan of plans) {
    if (seen.has(plan.column)) throw new UserError(`dataset spec: field '${plan.field.name}' is defined twice in the ${plan.group} group`);
    seen.add(plan.column);
  }
  return plans;
}

/** Bad-row counts per reason (on_bad_rows: skip). */
export type BadRowCounts = Record<string, number>;

interface Check {
  reason: string;
  column: string;
  /** SQL condition that is true for a bad row of `ent`. */
  condition: string;
  /** SQL expression of the offending value, for the message. */
  value: string;
}

/**
 * Builds `ent_<entity>`: one row per logged impression with raw values (strings) for the user,
 * item, time, label and every field, joined from the impression, item and user tables. Then
 * checks every row; with on_bad_rows: fail the first bad row stops prepare with file, row and
 * column, with skip the bad rows are dropped and counted per reason.
 */
export async function buildEntityTable(
  con: DuckDBConnection,
  spec: DatasetSpec,
  entity: EntityName,
  tables: Map<string, LoadedTable>,
  plans: FieldPlan[],
  badRows: BadRowCounts,
): Promise<void> {
  const e = spec.entities[entity];
  const where = `entities.${entity}`;
  const log = requireTable(tables, e.table, `${where}.table`);
  const itemTable = e.items ? requireTable(tables, e.items.table, `${where}.items.table`) : undefined;
  const userTable = spec.users ? requireTable(tables, spec.users.table, "users.table") : undefined;
  requireColumn(log, e.user_column, `${where}.user_column`);
  requireColumn(log, e.item_column, `${where}.item_column`);
  if (e.time_column) requireColumn(log, e.time_column, `${where}.time_column`);
  if (e.label) requireColumn(log, e.label.column, `${where}.label.column`);
  else if (!e.negatives) throw new UserError(`dataset spec: ${where}.label: required unless negatives are sampled (a log of positives only)`);
  if (itemTable) requireColumn(itemTable, e.items!.key ?? e.item_column, `${where}.items.key`);
  if (userTable) requireColumn(userTable, spec.users!.key, "users.key");

  /** Where a field's raw value lives for this entity: the log, else the item table, else the user table. */
  const source = (plan: FieldPlan, column: string, specPath: string): string => {
    if (plan.group === "user") {
      if (plan.field.name === "user_id") return `CAST(l.${sqlIdent(e.user_column)} AS VARCHAR)`;
      if (!userTable) throw new UserError(`dataset spec: ${specPath}: user fields need a users table`);
      requireColumn(userTable, column, specPath);
      return `CAST(u.${sqlIdent(column)} AS VARCHAR)`;
    }
    if (plan.field.name === "item_id" && plan.group === "specific") return `CAST(l.${sqlIdent(e.item_column)} AS VARCHAR)`;
    if (log.columns.includes(column)) return `CAST(l.${sqlIdent(column)} AS VARCHAR)`;
    if (itemTable?.columns.includes(column)) return `CAST(i.${sqlIdent(column)} AS VARCHAR)`;
    throw new UserError(
      `dataset spec: ${specPath}: column '${column}' is in neither ${log.file}${itemTable ? ` nor ${itemTable.file}` : ""} (columns: ${[...log.columns, ...(itemTable?.columns ?? [])].join(", ")})`,
    );
  };

  const selects = [
    "l._row AS _row",
    `NULLIF(TRIM(CAST(l.${sqlIdent(e.user_column)} AS VARCHAR)), '') AS user_raw`,
    `NULLIF(TRIM(CAST(l.${sqlIdent(e.item_column)} AS VARCHAR)), '') AS item_raw`,
    `${e.time_column ? `CAST(l.${sqlIdent(e.time_column)} AS VARCHAR)` : "NULL::VARCHAR"} AS t_raw`,
    `${e.label ? `CAST(l.${sqlIdent(e.label.column)} AS VARCHAR)` : "'1'"} AS label_raw`,
  ];
  const checks: Check[] = [
    { reason: "missing user id", column: e.user_column, condition: "user_raw IS NULL", value: "''" },
    { reason: "missing item id", column: e.item_column, condition: "item_raw IS NULL", value: "''" },
  ];
  if (e.label?.rule) {
    checks.push({ reason: "label is not a number", column: e.label.column, condition: "TRY_CAST(label_raw AS DOUBLE) IS NULL", value: "label_raw" });
  } else if (e.label) {
    checks.push({
      reason: "label is not 0/1",
      column: e.label.column,
      condition: "lower(trim(coalesce(label_raw, ''))) NOT IN ('0', '1', '0.0', '1.0', 'true', 'false')",
      value: "label_raw",
    });
  }
  if (e.time_column) {
    checks.push({ reason: "time is not a number or timestamp", column: e.time_column, condition: `(${timeExpr("t_raw")}) IS NULL`, value: "t_raw" });
  }
  for (const plan of plans) {
    if (plan.entity !== "both" && plan.entity !== entity) continue;
    if (plan.field.derive) continue;
    const column = plan.group === "shared" ? (e.shared_columns[plan.field.name] ?? plan.field.column ?? plan.field.name) : (plan.field.column ?? plan.field.name);
    const specPath =
      plan.group === "user" ? `users.fields.${plan.field.name}` : plan.group === "shared" ? `shared.${plan.field.name}` : `${where}.specific.${plan.field.name}`;
    selects.push(`NULLIF(TRIM(${source(plan, column, specPath)}), '') AS ${sqlIdent(plan.column)}`);
    if (plan.field.type === "numeric") {
      const c = sqlIdent(plan.column);
      checks.push({
        reason: `${plan.field.name} is not a number`,
        column,
        condition: `${c} IS NOT NULL AND (TRY_CAST(${c} AS DOUBLE) IS NULL OR NOT isfinite(TRY_CAST(${c} AS DOUBLE)))`,
        value: c,
      });
    }
  }
  const joins = [
    itemTable ? `LEFT JOIN (SELECT DISTINCT ON (k) *, CAST(${sqlIdent(e.items!.key ?? e.item_column)} AS VARCHAR) AS k FROM ${itemTable.sqlName}) i ON i.k = CAST(l.${sqlIdent(e.item_column)} AS VARCHAR)` : "",
    userTable ? `LEFT JOIN (SELECT DISTINCT ON (k) *, CAST(${sqlIdent(spec.users!.key)} AS VARCHAR) AS k FROM ${userTable.sqlName}) u ON u.k = CAST(l.${sqlIdent(e.user_column)} AS VARCHAR)` : "",
  ];
  const ent = sqlIdent(`ent_${entity}`);
  await con.run(`CREATE TABLE ${ent} AS SELECT ${selects.join(", ")} FROM ${log.sqlName} l ${joins.join(" ")}`);

  if (spec.on_bad_rows === "fail") {
    const firsts = checks.map((c, k) => `SELECT ${k} AS k, min(_row) AS r FROM ${ent} WHERE ${c.condition}`).join(" UNION ALL ");
    const [bad] = await queryObjects(con, `SELECT k, r FROM (${firsts}) WHERE r IS NOT NULL ORDER BY r, k LIMIT 1`);
    if (bad) {
      const check = checks[Number(bad.k)]!;
      const [row] = await queryObjects(con, `SELECT CAST(${check.value} AS VARCHAR) AS v FROM ${ent} WHERE _row = ${Number(bad.r)}`);
      const value = row?.v === null || row?.v === undefined || row.v === "" ? "empty" : `'${String(row.v)}'`;
      throw new UserError(`${log.file}: ${rowLabel(log, Number(bad.r))}, column ${check.column}: ${check.reason} (value ${value})`);
    }
  } else {
    // A row counts under its first failing reason.
    const reasonCase = `CASE ${checks.map((c, k) => `WHEN ${c.condition} THEN ${k}`).join(" ")} END`;
    const counts = await queryObjects(con, `SELECT ${reasonCase} AS k, count(*) AS n FROM ${ent} WHERE ${reasonCase} IS NOT NULL GROUP BY 1`);
    for (const { k, n } of counts) {
      const reason = `${entity}: ${checks[Number(k)]!.reason}`;
      badRows[reason] = (badRows[reason] ?? 0) + Number(n);
    }
    if (counts.length) await con.run(`DELETE FROM ${ent} WHERE ${reasonCase} IS NOT NULL`);
  }
  if (log.unparsedRows) badRows[`${log.file}: rows that do not parse`] = log.unparsedRows;
}

/** Epoch seconds from a number or a timestamp/date string; NULL when it is neither. */
export function timeExpr(raw: string): string {
  return `COALESCE(TRY_CAST(${raw} AS DOUBLE), epoch(TRY_CAST(${raw} AS TIMESTAMP)))`;
}

/** The 0/1 label from the raw label value. */
export function labelExpr(e: EntitySpec, raw: string): string {
  if (!e.label) return "1";
  if (e.label.rule) {
    const match = /^\s*(>=|<=|==|!=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$/.exec(e.label.rule)!;
    const op = match[1] === "==" ? "=" : match[1]!;
    return `CASE WHEN CAST(${raw} AS DOUBLE) ${op} ${match[2]} THEN 1 ELSE 0 END`;
  }
  return `CASE WHEN lower(trim(${raw})) IN ('1', '1.0', 'true') THEN 1 ELSE 0 END`;
}

function requireTable(tables: Map<string, LoadedTable>, name: string, specPath: string): LoadedTable {
  const table = tables.get(name);
  if (!table) throw new UserError(`dataset spec: ${specPath}: no table named '${name}' under tables (have: ${[...tables.keys()].join(", ")})`);
  return table;
}

function requireColumn(table: LoadedTable, column: string, specPath: string): void {
  if (!table.columns.includes(column)) {
    throw new UserError(`dataset spec: ${specPath}: column '${column}' is not in ${table.file} (columns: ${table.columns.join(", ")})`);
  }
}

