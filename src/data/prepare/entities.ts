import type { DuckDBConnection } from "@duckdb/node-api";
import type { DatasetSpec, EntitySpec, FieldSpec } from "../../spec/dataset.ts";
import { FieldError, UserError, oneLine, quoted } from "../../util/errors.ts";
import type { EntityName } from "../batch.ts";
import { queryObjects, sqlIdent } from "../duck.ts";
import { rowLabel, type LoadedTable } from "./raw.ts";
import { TRUE_PROBABILITY_RAW, trueProbabilityCheck } from "./true-probability.ts";

/** A feature as prepare sees it: where its raw value comes from for each entity. */
export interface FieldPlan {
  field: FieldSpec;
  /** Final column name: user__x, shared__x, source__x, target__x. */
  column: string;
  group: "user" | "shared" | "specific";
  entity: "both" | EntityName;
  /** Made by prepare without a spec field naming it: the user id and each entity's item id. */
  implicit?: true;
}

export function planFields(spec: DatasetSpec): FieldPlan[] {
  const plans: FieldPlan[] = [
    { field: { name: "user_id", type: "categorical", buckets: 10 }, column: "user__user_id", group: "user", entity: "both", implicit: true },
  ];
  for (const field of spec.users?.fields ?? []) plans.push({ field, column: `user__${field.name}`, group: "user", entity: "both" });
  for (const field of spec.shared) plans.push({ field, column: `shared__${field.name}`, group: "shared", entity: "both" });
  for (const entity of ["source", "target"] as const) {
    plans.push({ field: { name: "item_id", type: "categorical", buckets: 10 }, column: `${entity}__item_id`, group: "specific", entity, implicit: true });
    for (const field of spec.entities[entity].specific) plans.push({ field, column: `${entity}__${field.name}`, group: "specific", entity });
  }
  // Names are unique within each group (checked with the spec), hence columns are unique.
  return plans;
}

/** Bad-row counts per reason (on_bad_rows: skip). */
export type BadRowCounts = Record<string, number>;

interface Check {
  reason: string;
  column: string;
  /** SQL condition that is true for a bad row of `ent`. */
  condition: string;
}

/** How a raw value may be kept: ids and categories as integers, numeric fields as numbers, the rest as text. */
type RawKind = "key" | "number" | "text";

/** One raw value of an entity's rows: where it comes from in the joined row (log l, item table i, user table u). */
interface RawValue {
  /** Column of ent_<entity> ("user_raw", "item_raw", …, or a field's final column name). */
  name: string;
  alias: "l" | "i" | "u";
  table: LoadedTable;
  column: string;
  kind: RawKind;
  /** The spec's field name, for messages (fields only). */
  field?: string;
  /** Only a join key (the item or user table's key): decides whether the join compares native values, not selected. */
  joinKey?: boolean;
}

/** An entity's raw tables (checked to have every column the spec names) and where each value of its rows comes from. */
export interface EntitySources {
  entity: EntityName;
  log: LoadedTable;
  itemTable?: LoadedTable;
  userTable?: LoadedTable;
  values: RawValue[];
}

/** Resolves and checks the raw columns of one entity; a column the spec names that is not there is a one-line error. */
export function locateEntitySources(spec: DatasetSpec, entity: EntityName, tables: Map<string, LoadedTable>, plans: FieldPlan[]): EntitySources {
  const e = spec.entities[entity];
  const where = `entities.${entity}`;
  const log = requireTable(tables, e.table, `${where}.table`);
  const itemTable = e.items ? requireTable(tables, e.items.table, `${where}.items.table`) : undefined;
  const userTable = spec.users ? requireTable(tables, spec.users.table, "users.table") : undefined;
  requireColumn(log, e.user_column, `${where}.user_column`);
  requireColumn(log, e.item_column, `${where}.item_column`);
  if (e.time_column) requireColumn(log, e.time_column, `${where}.time_column`);
  if (e.label) requireColumn(log, e.label.column, `${where}.label.column`);
  if (itemTable) requireColumn(itemTable, e.items!.key ?? e.item_column, `${where}.items.key`);
  if (userTable) requireColumn(userTable, spec.users!.key, "users.key");
  if (e.true_probability_column) requireColumn(log, e.true_probability_column, `${where}.true_probability_column`);

  const fromLog = (name: string, column: string, kind: RawKind): RawValue => ({ name, alias: "l", table: log, column, kind });
  const values: RawValue[] = [fromLog("user_raw", e.user_column, "key"), fromLog("item_raw", e.item_column, "key")];
  if (e.time_column) values.push(fromLog("t_raw", e.time_column, "number"));
  if (e.label) values.push(fromLog("label_raw", e.label.column, "text"));
  if (e.true_probability_column) values.push(fromLog(TRUE_PROBABILITY_RAW, e.true_probability_column, "number"));
  if (itemTable) values.push({ name: "item_raw", alias: "i", table: itemTable, column: e.items!.key ?? e.item_column, kind: "key", joinKey: true });
  if (userTable) values.push({ name: "user_raw", alias: "u", table: userTable, column: spec.users!.key, kind: "key", joinKey: true });

  for (const plan of plans) {
    if (plan.entity !== "both" && plan.entity !== entity) continue;
    if (plan.field.derive) continue;
    const column = plan.group === "shared" ? (e.shared_columns[plan.field.name] ?? plan.field.column ?? plan.field.name) : (plan.field.column ?? plan.field.name);
    const specPath =
      plan.group === "user" ? `users.fields.${plan.field.name}` : plan.group === "shared" ? `shared.${plan.field.name}` : `${where}.specific.${plan.field.name}`;
    const kind: RawKind = plan.field.type === "numeric" ? "number" : "key";
    const field = plan.field.name;
    // Where a field's raw value lives for this entity: the log, else the item table, else the user table.
    if (plan.group === "user") {
      if (plan.field.name === "user_id") values.push({ ...fromLog(plan.column, e.user_column, kind), field });
      else {
        if (!userTable) throw new FieldError(specPath, "user fields need a users table");
        requireColumn(userTable, column, specPath);
        values.push({ name: plan.column, alias: "u", table: userTable, column, kind, field });
      }
    } else if (plan.field.name === "item_id" && plan.group === "specific") values.push({ ...fromLog(plan.column, e.item_column, kind), field });
    else if (log.columns.includes(column)) values.push({ ...fromLog(plan.column, column, kind), field });
    else if (itemTable?.columns.includes(column)) values.push({ name: plan.column, alias: "i", table: itemTable, column, kind, field });
    else {
      throw new FieldError(specPath, `column ${quoted(column)} is in neither ${log.file}${itemTable ? ` nor ${itemTable.file}` : ""}`);
    }
  }
  return { entity, log, itemTable, userTable, values };
}

const INTEGER_TYPE = /^U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)$/;
// Not FLOAT: its text form ('0.1') reads back as a different double than the float itself.
const NUMBER_TYPE = /^(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|DOUBLE|DECIMAL\(\d+,\d+\))$/;

/**
 * The ent_* columns kept in their raw type instead of trimmed text: a name is native when every raw
 * column it comes from, in both entities and in its join keys, is an integer (ids, categories) or a
 * DOUBLE/DECIMAL/integer (numeric fields, time). Text is what CSV/TSV gives and what mixed types
 * fall back to. Native values compare, join and sort without text conversion (prepare of the
 * generator's Parquet tables is faster); wherever ordering decides ids, prepare orders by the text
 * form, so the prepared data is the same either way.
 */
export function nativeValues(sources: readonly EntitySources[]): Set<string> {
  const verdict = new Map<string, boolean>();
  for (const { values } of sources) {
    for (const v of values) {
      const type = v.table.types[v.column] ?? "VARCHAR";
      const ok = v.kind === "key" ? INTEGER_TYPE.test(type) : v.kind === "number" ? NUMBER_TYPE.test(type) : false;
      verdict.set(v.name, (verdict.get(v.name) ?? true) && ok);
    }
  }
  return new Set([...verdict].filter(([, ok]) => ok).map(([name]) => name));
}

/**
 * Builds `ent_<entity>`: one row per logged impression with raw values for the user, item, time,
 * label and every field, joined from the impression, item and user tables (text, or the raw type
 * where nativeValues allows). Then checks every row; with on_bad_rows: fail the first bad row stops
 * prepare with file, row and column, with skip the bad rows are dropped and counted per reason.
 */
export async function buildEntityTable(
  con: DuckDBConnection,
  spec: DatasetSpec,
  sources: EntitySources,
  native: ReadonlySet<string>,
  badRows: BadRowCounts,
): Promise<void> {
  const { entity, log, itemTable, userTable } = sources;
  const e = spec.entities[entity];
  /** The raw value as selected: its own type where native, else trimmed text with '' as missing. */
  const value = (v: RawValue) => {
    const ref = `${v.alias}.${sqlIdent(v.column)}`;
    return native.has(v.name) ? ref : v.kind === "text" ? `CAST(${ref} AS VARCHAR)` : `NULLIF(TRIM(CAST(${ref} AS VARCHAR)), '')`;
  };
  const selected = sources.values.filter((v) => !v.joinKey);
  const selects = ["l._row AS _row", ...selected.map((v) => `${value(v)} AS ${sqlIdent(v.name)}`)];
  if (!e.time_column) selects.push("NULL::VARCHAR AS t_raw");
  if (!e.label) selects.push("'1' AS label_raw");
  const checks: Check[] = [
    { reason: "missing user id", column: e.user_column, condition: "user_raw IS NULL" },
    { reason: "missing item id", column: e.item_column, condition: "item_raw IS NULL" },
  ];
  if (e.label?.rule) {
    checks.push({ reason: "label is not a finite number", column: e.label.column, condition: "isfinite(TRY_CAST(label_raw AS DOUBLE)) IS NOT TRUE" });
  } else if (e.label) {
    checks.push({
      reason: "label is not 0/1",
      column: e.label.column,
      condition: "lower(trim(coalesce(label_raw, ''))) NOT IN ('0', '1', '0.0', '1.0', 'true', 'false')",
    });
  }
  if (e.time_column) {
    checks.push({ reason: "time is not a finite number or a timestamp", column: e.time_column, condition: `isfinite(${timeExpr("t_raw")}) IS NOT TRUE` });
  }
  checks.push(...trueProbabilityCheck(e));
  for (const v of selected) {
    if (v.kind !== "number" || v.field === undefined) continue;
    const c = sqlIdent(v.name);
    checks.push({
      reason: `${v.field} is not a number`,
      column: v.column,
      condition: `${c} IS NOT NULL AND (TRY_CAST(${c} AS DOUBLE) IS NULL OR NOT isfinite(TRY_CAST(${c} AS DOUBLE)))`,
    });
  }
  /** Joins a lookup table on its key, first row per key; native keys compare as they are, others as text. */
  const join = (table: LoadedTable | undefined, alias: "i" | "u", logColumn: string, rawName: string) => {
    if (!table) return "";
    const key = sources.values.find((v) => v.joinKey && v.alias === alias)!;
    const k = native.has(rawName) ? sqlIdent(key.column) : `CAST(${sqlIdent(key.column)} AS VARCHAR)`;
    const l = native.has(rawName) ? `l.${sqlIdent(logColumn)}` : `CAST(l.${sqlIdent(logColumn)} AS VARCHAR)`;
    return `LEFT JOIN (SELECT DISTINCT ON (k) *, ${k} AS k FROM ${table.sqlName}) ${alias} ON ${alias}.k = ${l}`;
  };
  const joins = [join(itemTable, "i", e.item_column, "item_raw"), join(userTable, "u", e.user_column, "user_raw")];
  const ent = sqlIdent(`ent_${entity}`);
  await con.run(`CREATE TABLE ${ent} AS SELECT ${selects.join(", ")} FROM ${log.sqlName} l ${joins.join(" ")}`);

  if (spec.on_bad_rows === "fail") {
    const firsts = checks.map((c, k) => `SELECT ${k} AS k, min(_row) AS r FROM ${ent} WHERE ${c.condition}`).join(" UNION ALL ");
    const [bad] = await queryObjects(con, `SELECT k, r FROM (${firsts}) WHERE r IS NOT NULL ORDER BY r, k LIMIT 1`);
    if (bad) {
      const check = checks[Number(bad.k)]!;
      // The value itself is not quoted: it is the file's content (and may be anything, of any length).
      throw new UserError(`${rowLabel(log, Number(bad.r))}, column ${oneLine(check.column, 60)}: ${check.reason}`);
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
  if (!table) throw new FieldError(specPath, `no table named '${name}' under tables`);
  return table;
}

function requireColumn(table: LoadedTable, column: string, specPath: string): void {
  if (!table.columns.includes(column)) {
    throw new FieldError(specPath, `column ${quoted(column)} is not in ${table.file} (it has ${table.columns.length} columns)`);
  }
}

