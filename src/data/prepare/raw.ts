import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { resolve } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import type { RawTable } from "../../spec/dataset.ts";
import { formatFromExtension } from "../../spec/dataset-rules.ts";
import { UserError } from "../../util/errors.ts";
import { readableFileSize } from "../../util/files.ts";
import { queryObjects, queryValue, sqlIdent, sqlString } from "../duck.ts";

/** A raw table loaded into DuckDB as `raw_<name>`, every row numbered in `_row` (1-based data row). */
export interface LoadedTable {
  name: string;
  sqlName: string;
  /** The file's path, as messages name it. */
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
  const format = table.format ?? formatFromExtension(table.path);
  // The spec's rules (dataset-rules.ts) refuse a table whose format is neither set nor told by its extension.
  if (format === undefined) throw new Error(`${table.path}: no format`);
  return format;
}

/** How a row is named in messages: a file line for CSV/TSV, a row number for Parquet. */
export function rowLabel(table: LoadedTable, row: number): string {
  return table.lineOffset === undefined ? `row ${row}` : `line ${row + table.lineOffset}`;
}

/**
 * Checks a raw table's file without reading its rows (before anything is written): a readable,
 * non-empty regular file, and for Parquet one with its magic bytes at both ends. Returns its path.
 */
export async function checkRawFile(name: string, table: RawTable, rawDir: string): Promise<string> {
  const file = resolve(rawDir, table.path);
  if ((await readableFileSize(file)) === 0) throw new UserError(`${file}: raw table '${name}' is empty`);
  if (tableFormat(table) === "parquet" && !(await hasParquetMagic(file))) {
    throw new UserError(`${file}: not a Parquet file (truncated or corrupted: no PAR1 marker at its start and end)`);
  }
  return file;
}

export async function loadRawTable(
  con: DuckDBConnection,
  name: string,
  table: RawTable,
  rawDir: string,
  onBadRows: "fail" | "skip",
): Promise<LoadedTable> {
  const file = await checkRawFile(name, table, rawDir);
  const format = tableFormat(table);
  const sqlName = sqlIdent(`raw_${name}`);
  let unparsedRows = 0;
  let lineOffset: number | undefined;
  if (format === "parquet") {
    await con
      .run(`CREATE TABLE ${sqlName} AS SELECT file_row_number + 1 AS _row, * EXCLUDE (file_row_number) FROM read_parquet(${sqlString(file)}, file_row_number = true)`)
      // DuckDB's message may quote the file's bytes: only say what failed.
      .catch(() => {
        throw new UserError(`${file}: not a readable Parquet file (corrupted)`);
      });
  } else {
    const delimiter = format === "tsv" ? "\t" : ",";
    const options = [
      `delim = ${sqlString(delimiter)}`,
      `header = ${table.header}`,
      "all_varchar = true",
      "store_rejects = true",
      `rejects_table = ${sqlString(`rejects_${name}`)}`,
      `rejects_scan = ${sqlString(`rejects_scan_${name}`)}`,
      "strict_mode = true",
      "null_padding = false",
      `max_line_size = ${MAX_LINE_BYTES}`,
    ];
    // CSV quoting is RFC 4180's: set rather than sniffed, so that an unterminated quote is an error and not a dialect without quotes.
    if (format === "csv") options.push(`quote = '"'`, `escape = '"'`);
    if (table.columns) options.push(`names = [${table.columns.map(sqlString).join(", ")}]`);
    // Rows in file order; the reader's own line numbers are used for rows it rejects.
    await con.run(`CREATE TABLE ${sqlName} AS SELECT * FROM read_csv(${sqlString(file)}, ${options.join(", ")})`).catch(async (error: unknown) => {
      throw await csvReadError(file, delimiter, error);
    });
    const rejects = await queryObjects(con, `SELECT line, column_name, error_type, error_message FROM ${sqlIdent(`rejects_${name}`)} ORDER BY line LIMIT 1`);
    unparsedRows = Number(await queryValue(con, `SELECT count(DISTINCT line) FROM ${sqlIdent(`rejects_${name}`)}`));
    const first = rejects[0];
    if (first && onBadRows === "fail") {
      const column = typeof first.column_name === "string" && first.column_name.length <= 60 ? `, column ${first.column_name}` : "";
      throw new UserError(`${file}: line ${first.line}${column}: row does not parse (${String(first.error_type).toLowerCase().replaceAll("_", " ")})`);
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
  return { name, sqlName, file, format, columns, types, lineOffset, unparsedRows };
}

/** Whether the file starts and ends with Parquet's magic bytes: a truncated file lacks the trailing ones. */
async function hasParquetMagic(file: string): Promise<boolean> {
  const handle = await open(file, "r");
  try {
    const { size } = await handle.stat();
    if (size < 12) return false;
    const head = Buffer.alloc(4);
    const tail = Buffer.alloc(4);
    await handle.read(head, 0, 4, 0);
    await handle.read(tail, 0, 4, size - 4);
    return head.toString("latin1") === "PAR1" && tail.toString("latin1") === "PAR1";
  } finally {
    await handle.close();
  }
}

/** Longest line of a CSV/TSV file (DuckDB's default): raw tables hold ids, labels and short fields. */
const MAX_LINE_BYTES = 2_000_000;

/** A UserError for a CSV/TSV file DuckDB could not read, naming the line where that is known, never quoting the file. */
async function csvReadError(file: string, delimiter: string, error: unknown): Promise<UserError> {
  const message = error instanceof Error ? error.message : String(error);
  const scan = await scanLines(file, delimiter);
  if (message.includes("Maximum line size") && scan.longLine !== undefined) {
    return new UserError(`${file}: line ${scan.longLine}: longer than ${MAX_LINE_BYTES} bytes (the longest line a raw table may have)`);
  }
  const line = /CSV Error on Line: (\d+)/.exec(message)?.[1];
  if (line !== undefined) return new UserError(`${file}: line ${line}: row does not parse`);
  if (scan.openQuote !== undefined) return new UserError(`${file}: line ${scan.openQuote}: a quoted value is never closed (unterminated ")`);
  return new UserError(`${file}: cannot be read as ${delimiter === "," ? "CSV" : "TSV"} (no consistent delimiter and quoting; check the format)`);
}

/**
 * One pass over a CSV/TSV file for what DuckDB reports without a usable line: the first line over
 * MAX_LINE_BYTES, and the line where a quoted value opens that is still open at the end of the file
 * (RFC 4180: a value is quoted when " starts it; inside, "" is a literal quote).
 */
export async function scanLines(file: string, delimiter: string): Promise<{ longLine?: number; openQuote?: number }> {
  const QUOTE = 0x22;
  const LF = 0x0a;
  const DELIM = delimiter.charCodeAt(0);
  let line = 1;
  let lineBytes = 0;
  let longLine: number | undefined;
  let openedAt = 0;
  let inQuotes = false;
  let quoteSeen = false; // a quote inside a quoted value: closes it unless the next byte is another quote
  let fieldStart = true;
  for await (const chunk of createReadStream(file)) {
    for (const byte of chunk as Buffer) {
      if (byte === LF) {
        if (lineBytes > MAX_LINE_BYTES) longLine ??= line;
        lineBytes = 0;
      } else lineBytes++;
      if (inQuotes) {
        if (quoteSeen) {
          quoteSeen = false;
          if (byte === QUOTE) continue;
          inQuotes = false;
        } else {
          if (byte === QUOTE) quoteSeen = true;
          else if (byte === LF) line++;
          continue;
        }
      }
      if (byte === QUOTE && fieldStart) {
        inQuotes = true;
        openedAt = line;
        fieldStart = false;
      } else if (byte === LF) {
        line++;
        fieldStart = true;
      } else fieldStart = byte === DELIM;
    }
  }
  if (lineBytes > MAX_LINE_BYTES) longLine ??= line;
  return { longLine, openQuote: inQuotes && !quoteSeen ? openedAt : undefined };
}
