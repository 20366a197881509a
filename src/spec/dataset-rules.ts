import { extname } from "node:path";
import type { z } from "../util/zod.ts";
import type { DatasetSpec, FieldSpec, RawTable } from "./dataset-shape.ts";

type Format = NonNullable<RawTable["format"]>;

/** A raw table's format from its extension (.csv, .tsv/.tab, .parquet); undefined when the extension does not tell. */
export function formatFromExtension(path: string): Format | undefined {
  const ext = extname(path).toLowerCase();
  return ext === ".parquet" ? "parquet" : ext === ".tsv" || ext === ".tab" ? "tsv" : ext === ".csv" ? "csv" : undefined;
}

const TABLE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The rules of a dataset spec that span several fields: what the schema of each field cannot say.
 * Checked when the spec is loaded, before anything is read or written (docs/specs.md, "Validation").
 */
export function datasetRules(spec: DatasetSpec, ctx: z.RefinementCtx): void {
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: "custom", path, message });
  const tableNames = Object.keys(spec.tables);
  if (!spec.generator && spec.raw_dir === undefined) issue(["raw_dir"], "required without a generator (the directory of the raw tables, relative to the spec file)");
  for (const [name, table] of Object.entries(spec.tables)) {
    if (!TABLE_NAME.test(name)) issue(["tables", name], "expected a table name of letters, digits, - and _ (at most 64)");
    const paths = Array.isArray(table.path) ? table.path : [table.path];
    const formats = new Set(paths.map(formatFromExtension));
    const format = table.format ?? (formats.size === 1 ? [...formats][0] : undefined);
    if (!table.format && formats.has(undefined)) {
      const path = paths.find((p) => formatFromExtension(p) === undefined)!;
      issue(["tables", name, "path"], `cannot tell the format from the extension '${extname(path)}'; set format: csv, tsv or parquet`);
    } else if (!table.format && formats.size > 1) issue(["tables", name, "path"], "files of different formats in one table; set format: csv, tsv or parquet");
    if (format === "parquet" && table.columns) issue(["tables", name, "columns"], "applies to CSV/TSV files only (a Parquet file names its columns)");
    if (format !== "parquet" && !table.header && !table.columns) issue(["tables", name, "columns"], "required with header: false (the file has no header line naming its columns)");
    const repeated = table.columns?.findIndex((c, i) => table.columns!.indexOf(c) !== i) ?? -1;
    if (repeated >= 0) issue(["tables", name, "columns", repeated], `'${table.columns![repeated]}' is listed twice`);
  }
  const requireTable = (path: (string | number)[], name: string) => {
    if (!(name in spec.tables)) issue(path, `no table named '${name}' under tables (tables: ${tableNames.join(", ") || "none"})`);
  };
  if (spec.users) requireTable(["users", "table"], spec.users.table);
  uniqueNames(["users", "fields"], spec.users?.fields ?? [], "user_id", issue);
  for (const [k, field] of (spec.users?.fields ?? []).entries()) {
    if (field.derive) issue(["users", "fields", k, "derive"], `${field.derive} is a property of items: derive it in shared or specific, not in users`);
  }
  uniqueNames(["shared"], spec.shared, undefined, issue);
  const shared = new Set(spec.shared.map((f) => f.name));
  for (const entity of ["source", "target"] as const) {
    const e = spec.entities[entity];
    const at = (...rest: (string | number)[]) => ["entities", entity, ...rest];
    requireTable(at("table"), e.table);
    if (e.items) requireTable(at("items", "table"), e.items.table);
    if (!e.label && !e.negatives) issue(at("label"), "required unless negatives are sampled (a log of positives only)");
    uniqueNames(at("specific"), e.specific, "item_id", issue);
    for (const name of Object.keys(e.shared_columns)) {
      if (!shared.has(name)) issue(at("shared_columns", name), `no shared field named '${name}' (shared: ${[...shared].join(", ") || "none"})`);
    }
  }
  if (spec.split.by === "user_order") {
    const { test_fraction: test, valid_fraction: valid } = spec.split;
    if (test <= 0) issue(["split", "test_fraction"], "must be above 0 (the target test split would be empty)");
    else if (valid <= 0) issue(["split", "valid_fraction"], "must be above 0 (the target valid split, used for early stopping, would be empty)");
    else if (test + valid >= 1) issue(["split", "valid_fraction"], `test_fraction + valid_fraction is ${+(test + valid).toFixed(6)}; it must be below 1 (the rest is the training split)`);
  }
  const groups = spec.user_groups;
  const unordered = groups.findIndex((g, i) => i > 0 && g <= groups[i - 1]!);
  if (unordered >= 0) issue(["user_groups", unordered], `thresholds must increase (${groups.join(", ")})`);
}

/** Field names within a group are unique (they become column and vocabulary file names); `reserved` is the group's built-in field. */
function uniqueNames(path: (string | number)[], fields: readonly FieldSpec[], reserved: string | undefined, issue: (path: (string | number)[], message: string) => void): void {
  const names = fields.map((f) => f.name);
  for (const [k, name] of names.entries()) {
    if (name === reserved) issue([...path, k, "name"], `'${name}' is built in (always a feature); remove it or give the field another name`);
    else if (names.indexOf(name) !== k) issue([...path, k, "name"], `a field named '${name}' is defined twice`);
  }
}
