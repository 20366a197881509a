import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { resolve } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import type { RawTable } from "../../spec/dataset.ts";
import { formatFromExtension } from "../../spec/dataset-rules.ts";
import { UserError } from "../../util/errors.ts";
import { readableFileSize } from "../../util/files.ts";
import { queryObjects, queryValue, sqlIdent, sqlString } from "../duck.ts";

/** One file of a raw table: how messages name it, and the table's `_row` of its first data row. */
export interface RawFilePart {
  file: string;
  firstRow: number;
  /** The file line of its first data row (2 with a header); undefined for Parquet, or when unparsable rows were skipped. */
  firstLine: number | undefined;
}

/** A raw table loaded into DuckDB as `raw_<name>`, every row numbered in `_row` (1-based, over its files in order). */
export interface LoadedTable {
  sqlName: string;
  /** How messages name the table: its file, or its path(s) as the spec gives them when it has several. */
  file: string;
  /** Its files in reading order. */
  parts: RawFilePart[];
  columns: string[];
  /** DuckDB type of each column (VARCHAR for every CSV/TSV column: they are read as text). */
  types: Record<string, string>;
  /** Rows the CSV reader could not parse (only with on_bad_rows: skip; otherwise prepare stops). */
  unparsedRows: number;
}

/** The spec's path(s) of a table, as a list. */
export function tablePaths(table: RawTable): string[] {
  return Array.isArray(table.path) ? table.path : [table.path];
}

export function tableFormat(table: RawTable): "csv" | "tsv" | "parquet" {
  if (table.format) return table.format;
  const formats = new Set(tablePaths(table).map((path) => formatFromExtension(path)));
  // The spec's rules (dataset-rules.ts) refuse a table whose files' extensions do not tell one format.
  const [format] = formats;
  if (formats.size !== 1 || format === undefined) throw new Error(`${tablePaths(table).join(", ")}: no single format`);
  return format;
}

/** How a row is named in messages: its file and line (CSV/TSV) or row (Parquet, or lines unknown). */
export function rowLabel(table: LoadedTable, row: number): string {
  let part = table.parts[0]!;
  for (const p of table.parts) if (p.firstRow <= row) part = p;
  const inFile = row - part.firstRow;
  return part.firstLine === undefined ? `${part.file}: row ${inFile + 1}` : `${part.file}: line ${inFile + part.firstLine}`;
}

const GLOB = /[*?[]/;

/**
 * Checks one file of a raw table without reading its rows (before anything is written): a readable,
 * non-empty regular file, and for Parquet one with its magic bytes at both ends.
 */
async function checkFile(name: string, file: string, format: "csv" | "tsv" | "parquet"): Promise<void> {
  if ((await readableFileSize(file)) === 0) throw new UserError(`${file}: raw table '${name}' is empty`);
  if (format === "parquet" && !(await hasParquetMagic(file))) {
    throw new UserError(`${file}: not a Parquet file (truncated or corrupted: no PAR1 marker at its start and end)`);
  }
}

/**
 * Checks the files a raw table names directly (glob patterns are expanded, and their matches
 * checked, when the table is loaded). Reads no rows, writes nothing.
 */
export async function checkRawFile(name: string, table: RawTable, rawDir: string): Promise<void> {
  const format = tableFormat(table);
  for (const path of tablePaths(table)) if (!GLOB.test(path)) await checkFile(name, resolve(rawDir, path), format);
}

/**
 * The files of a raw table in reading order: its paths in list order, a glob pattern standing for
 * its matches sorted by path. A path that does not exist, a pattern matching nothing, and an empty
 * or unreadable file are one-line errors.
 */
async function tableFiles(con: DuckDBConnection, name: string, table: RawTable, rawDir: string): Promise<string[]> {
  const files: string[] = [];
  for (const path of tablePaths(table)) {
    const full = resolve(rawDir, path);
    if (GLOB.test(path)) {
      const matches = (await queryObjects(con, `SELECT file FROM glob(${sqlString(full)}) ORDER BY file`)).map((r) => String(r.file));
      if (matches.length === 0) throw new UserError(`${full}: raw table '${name}': the pattern matches no file`);
      files.push(...matches);
    } else files.push(full);
  }
  const format = tableFormat(table);
  for (const file of files) await checkFile(name, file, format);
  if (new Set(files).size < files.length) throw new UserError(`${tablePaths(table).join(", ")}: raw table '${name}' lists a file twice`);
  return files;
}

export async function loadRawTable(
  con: DuckDBConnection,
  name: string,
  table: RawTable,
  rawDir: string,
  onBadRows: "fail" | "skip",
): Promise<LoadedTable> {
  const format = tableFormat(table);
  // Messages name files by their full paths, the table by its spec path(s) when it has several files.
  const files = await tableFiles(con, name, table, rawDir);
  const several = files.length > 1;
  const tableLabel = several ? tablePaths(table).join(", ") : files[0]!;
  const list = several ? `[${files.map(sqlString).join(", ")}]` : sqlString(files[0]!);
  const sqlName = sqlIdent(`raw_${name}`);
  if (format !== "parquet" && !table.header && !table.columns) {
    throw new UserError(`${files[0]}: table '${name}' has no header line, so its spec needs columns: [...]`);
  }
  const csvOptions = [
    `delim = ${sqlString(format === "tsv" ? "\t" : ",")}`,
    `header = ${table.header}`,
    "all_varchar = true",
    "strict_mode = true",
    "null_padding = false",
    `max_line_size = ${MAX_LINE_BYTES}`,
    // CSV quoting is RFC 4180's: set rather than sniffed, so that an unterminated quote is an error and not a dialect without quotes.
    ...(format === "csv" ? [`quote = '"'`, `escape = '"'`] : []),
    ...(table.columns ? [`names = [${table.columns.map(sqlString).join(", ")}]`] : []),
  ];
  // DuckDB's messages may quote the file's bytes: only say what failed, and where.
  const unreadable = async (error: unknown): Promise<never> => {
    if (format === "parquet") throw new UserError(`${tableLabel}: not a readable Parquet file (corrupted)`);
    throw await csvReadError(files, format === "tsv" ? "\t" : ",", error);
  };
  const reader = (source: string, extra: string[]) =>
    format === "parquet" ? `read_parquet(${[source, ...extra].join(", ")})` : `read_csv(${[source, ...csvOptions, ...extra].join(", ")})`;
  // DuckDB reads every file by the first one's columns (dropping a later file's extra columns):
  // the files of one table must have the same columns, in the same order.
  if (several) {
    let first: string[] | undefined;
    for (const [k, file] of files.entries()) {
      // (With a rejects table, a bad row in the sniffed sample does not stop the sniffer: it is reported when the rows are read.)
      const rejects = format === "parquet" ? [] : ["store_rejects = true", `rejects_table = ${sqlString(`sniff_rejects_${name}`)}`, `rejects_scan = ${sqlString(`sniff_scan_${name}`)}`];
      const columns = (await queryObjects(con, `DESCRIBE SELECT * FROM ${reader(sqlString(file), rejects)}`).catch(unreadable)).map((r) => String(r.column_name));
      first ??= columns;
      if (columns.join("\0") !== first.join("\0")) {
        throw new UserError(`${files[k]}: columns (${columns.join(", ")}) differ from those of ${files[0]} (${first.join(", ")}); the files of table '${name}' must have the same columns`);
      }
    }
  }
  const withFilename = several ? ["filename = true"] : [];
  let parts: RawFilePart[];
  let unparsedRows = 0;
  if (format === "parquet") {
    // Rows numbered by file (in order) and row within the file.
    const counts: number[] = [];
    for (const file of files) counts.push(Number(await queryValue(con, `SELECT count(*) FROM read_parquet(${sqlString(file)})`).catch(unreadable)));
    const firstRows = counts.map((_, k) => 1 + counts.slice(0, k).reduce((a, b) => a + b, 0));
    const offset = several ? `CASE filename ${files.map((f, k) => `WHEN ${sqlString(f)} THEN ${firstRows[k]! - 1}`).join(" ")} END + ` : "";
    await con.run(
      `CREATE TABLE ${sqlName} AS SELECT ${offset}file_row_number + 1 AS _row, * EXCLUDE (file_row_number${several ? ", filename" : ""}) FROM ${reader(list, ["file_row_number = true", ...withFilename])}`,
    ).catch(unreadable);
    parts = files.map((file, k) => ({ file, firstRow: firstRows[k]!, firstLine: undefined }));
  } else {
    const rejects = sqlIdent(`rejects_${name}`);
    const scans = sqlIdent(`rejects_scan_${name}`);
    const rejectOptions = ["store_rejects = true", `rejects_table = ${sqlString(`rejects_${name}`)}`, `rejects_scan = ${sqlString(`rejects_scan_${name}`)}`];
    // Rows in file order; the reader's own line numbers are used for rows it rejects.
    await con.run(`CREATE TABLE ${sqlName} AS SELECT * FROM ${reader(list, [...rejectOptions, ...withFilename])}`).catch(unreadable);
    const filePosition = `list_position([${files.map(sqlString).join(", ")}], s.file_path)`;
    const unparsed = await queryObjects(
      con,
      `SELECT ${filePosition} AS k, count(DISTINCT e.line) AS n, min(e.line) AS line, arg_min(e.column_name, e.line) AS column_name, arg_min(e.error_type, e.line) AS error_type
       FROM ${rejects} e JOIN ${scans} s USING (scan_id, file_id) GROUP BY 1 ORDER BY 1`,
    );
    unparsedRows = unparsed.reduce((sum, r) => sum + Number(r.n), 0);
    const first = unparsed[0];
    if (first && onBadRows === "fail") {
      const column = typeof first.column_name === "string" && first.column_name.length <= 60 ? `, column ${first.column_name}` : "";
      throw new UserError(`${files[Number(first.k) - 1]}: line ${first.line}${column}: row does not parse (${String(first.error_type).toLowerCase().replaceAll("_", " ")})`);
    }
    await con.run(`CREATE OR REPLACE TABLE ${sqlName} AS SELECT row_number() OVER () AS _row, * FROM ${sqlName}`);
    const firstRows = several ? await fileFirstRows(con, sqlName, files) : [1];
    if (several) await con.run(`ALTER TABLE ${sqlName} DROP COLUMN filename`);
    // With rejected rows skipped, a file's lines and row numbers no longer line up: only then are its lines unknown.
    const skipped = new Set(unparsed.map((r) => Number(r.k) - 1));
    parts = files.map((file, k) => ({ file, firstRow: firstRows[k]!, firstLine: skipped.has(k) ? undefined : table.header ? 2 : 1 }));
  }
  const described = (await queryObjects(con, `DESCRIBE ${sqlName}`)).filter((r) => r.column_name !== "_row");
  const columns = described.map((r) => String(r.column_name));
  const types = Object.fromEntries(described.map((r) => [String(r.column_name), String(r.column_type)]));
  const rows = Number(await queryValue(con, `SELECT count(*) FROM ${sqlName}`));
  if (rows === 0) throw new UserError(`${tableLabel}: raw table '${name}' has no data rows`);
  return { sqlName, file: tableLabel, parts, columns, types, unparsedRows };
}

/**
 * The `_row` of each file's first row, rows having been numbered in the order the reader gave them.
 * That order is the files' order, each file's rows in order (DuckDB preserves insertion order): checked
 * here, since line numbers in messages depend on it.
 */
async function fileFirstRows(con: DuckDBConnection, sqlName: string, files: string[]): Promise<number[]> {
  const ranges = await queryObjects(con, `SELECT filename, min(_row) AS lo, max(_row) AS hi, count(*) AS n FROM ${sqlName} GROUP BY filename`);
  const byFile = new Map(ranges.map((r) => [String(r.filename), { lo: Number(r.lo), hi: Number(r.hi), n: Number(r.n) }]));
  const firstRows: number[] = [];
  let next = 1;
  for (const file of files) {
    const range = byFile.get(file) ?? { lo: next, hi: next - 1, n: 0 };
    if (range.lo !== next || range.hi - range.lo + 1 !== range.n) throw new Error(`${file}: rows were not read in file order`);
    firstRows.push(next);
    next = range.hi + 1;
  }
  return firstRows;
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

/**
 * A UserError for CSV/TSV files DuckDB could not read, naming the file and line where that is known,
 * never quoting the file.
 */
async function csvReadError(files: readonly string[], delimiter: string, error: unknown): Promise<UserError> {
  const message = error instanceof Error ? error.message : String(error);
  const scans = await Promise.all(files.map(async (file) => ({ file, ...(await scanLines(file, delimiter)) })));
  const long = scans.find((s) => s.longLine !== undefined);
  if (message.includes("Maximum line size") && long) {
    return new UserError(`${long.file}: line ${long.longLine}: longer than ${MAX_LINE_BYTES} bytes (the longest line a raw table may have)`);
  }
  const line = /CSV Error on Line: (\d+)/.exec(message)?.[1];
  if (line !== undefined && files.length === 1) return new UserError(`${files[0]}: line ${line}: row does not parse`);
  const open = scans.find((s) => s.openQuote !== undefined);
  if (open) return new UserError(`${open.file}: line ${open.openQuote}: a quoted value is never closed (unterminated ")`);
  return new UserError(`${files.join(", ")}: cannot be read as ${delimiter === "," ? "CSV" : "TSV"} (no consistent delimiter and quoting; check the format)`);
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
