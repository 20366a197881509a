import { stat } from "node:fs/promises";
import { basename, extname, resolve } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import type { RawTable } from "../../spec/dataset.ts";
import { UserError } from "../../util/errors.ts";
import { queryObjects, queryValue, sqlIdent, sqlString } from "../duck.ts";

/** A raw table loaded into DuckDB as `raw_<name>`, every row numbered in `_row` (1-based data row). */
export interface LoadedTable {
  name: string;
  sqlName: string;
  file: string;
  format: "csv" | "tsv" | "parquet";
  columns: string[];
  /** DuckDB type of each column (VARCHAR for every CSV/TSV column: they are read as text). */
  types: Record<string, string>;
  /** The file line of data row 1 (2 with a header), so that line = _row + lineOffset; undefined for Parquet. */
  lineOffset: number | undefined;
  /** Rows the CSV reader could not parse (only with on_bad_rows: skip; otherwise prepare stops). */
  unparsedRows: number;
}

export function tableFormat(table: RawTable): "csv" | "tsv" | "parquet" {
  if (table.format) return table.format;
  const ext = extname(table.path).toLowerCase();
  if (ext === ".parquet") return "parquet";
  if (ext === ".tsv" || ext === ".tab") return "tsv";
  if (ext === ".csv") return "csv";
  throw new UserError(`${table.path}: cannot tell the format from the extension '${ext}'; set format: csv, tsv or parquet`);
}

/** How a row is named in messages: a file line for CSV/TSV, a row number for Parquet. */
export function rowLabel(table: LoadedTable, row: number): string {
  return table.lineOffset === undefined ? `row ${row}` : `line ${row + table.lineOffset}`;
}

export async function loadRawTable(
  con: DuckDBConnection,
  name: string,
  table: RawTable,
  rawDir: string,
  onBadRows: "fail" | "skip",
): Promise<LoadedTable> {
  const file = resolve(rawDir, table.path);
  const shown = basename(file);
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch {
    throw new UserError(`${file}: raw table '${name}' does not exist`);
  }
  if (size === 0) throw new UserError(`${file}: raw table '${name}' is empty`);
  const format = tableFormat(table);
  const sqlName = sqlIdent(`raw_${name}`);
  let unparsedRows = 0;
  let lineOffset: number | undefined;
  if (format === "parquet") {
    await con.run(`CREATE TABLE ${sqlName} AS SELECT file_row_number + 1 AS _row, * EXCLUDE (file_row_number) FROM read_parquet(${sqlString(file)}, file_row_number = true)`);
  } else {
    if (!table.header && !table.columns) {
      throw new UserError(`${file}: table '${name}' has no header line, so its spec needs columns: [...]`);
    }
    const options = [
      `delim = ${sqlString(format === "tsv" ? "\t" : ",")}`,
      `header = ${table.header}`,
      "all_varchar = true",
      "store_rejects = true",
      `rejects_table = ${sqlString(`rejects_${name}`)}`,
      `rejects_scan = ${sqlString(`rejects_scan_${name}`)}`,
      "strict_mode = true",
      "null_padding = false",
    ];
    if (table.columns) options.push(`names = [${table.columns.map(sqlString).join(", ")}]`);
    // Rows in file order; the reader's own line numbers are used for rows it rejects.
    await con.run(`CREATE TABLE ${sqlName} AS SELECT * FROM read_csv(${sqlString(file)}, ${options.join(", ")})`);
    const rejects = await queryObjects(con, `SELECT line, column_name, error_type, error_message FROM ${sqlIdent(`rejects_${name}`)} ORDER BY line LIMIT 1`);
    unparsedRows = Number(await queryValue(con, `SELECT count(DISTINCT line) FROM ${sqlIdent(`rejects_${name}`)}`));
    const first = rejects[0];
    if (first && onBadRows === "fail") {
      const column = first.column_name ? `, column ${first.column_name}` : "";
      throw new UserError(`${shown}: line ${first.line}${column}: row does not parse (${String(first.error_type).toLowerCase().replaceAll("_", " ")})`);
    }
    // With rejected rows skipped, file lines and row numbers no longer line up: only then are lines unknown.
    await con.run(`CREATE OR REPLACE TABLE ${sqlName} AS SELECT row_number() OVER () AS _row, * FROM ${sqlName}`);
    lineOffset = unparsedRows === 0 ? (table.header ? 1 : 0) : undefined;
  }
  const described = (await queryObjects(con, `DESCRIBE ${sqlName}`)).filter((r) => r.column_name !== "_row");
  const columns = described.map((r) => String(r.column_name));
  const types = Object.fromEntries(described.map((r) => [String(r.column_name), String(r.column_type)]));
  const rows = Number(await queryValue(con, `SELECT count(*) FROM ${sqlName}`));
  if (rows === 0) throw new UserError(`${file}: raw table '${name}' has no data rows`);
  return { name, sqlName, file: shown, format, columns, types, lineOffset, unparsedRows };
}
