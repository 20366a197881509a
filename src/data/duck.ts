import { DuckDBInstance, DuckDBDataChunk, DOUBLE, INTEGER, type DuckDBConnection, type DuckDBType } from "@duckdb/node-api";

/**
 * A DuckDB connection on a fresh in-memory database that spills to `tempDir` when it runs out of
 * memory ("": never spills; undefined: DuckDB's default, `.tmp` in the working directory).
 */
export interface Duck {
  con: DuckDBConnection;
  /** Another connection to the same database (a connection runs one streaming query at a time). */
  connect(): Promise<DuckDBConnection>;
  /** Closes the database (a second call does nothing). */
  close(): void;
}

export async function openDuck(options: { tempDir?: string; threads?: number } = {}): Promise<Duck> {
  const config: Record<string, string> = {};
  if (options.threads) config.threads = String(options.threads);
  if (options.tempDir !== undefined) config.temp_directory = options.tempDir;
  const instance = await DuckDBInstance.create(":memory:", config);
  const con = await instance.connect();
  let open = true;
  return {
    con,
    connect: () => instance.connect(),
    close() {
      if (!open) return;
      open = false;
      con.closeSync();
      instance.closeSync();
    },
  };
}

/** Quotes a SQL string literal. */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** Quotes a SQL identifier. */
export function sqlIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Runs a query and returns its rows as plain objects (numbers for integers that fit). */
export async function queryObjects(con: DuckDBConnection, sql: string): Promise<Record<string, unknown>[]> {
  const reader = await con.runAndReadAll(sql);
  return reader.getRowObjectsJS().map((row) => {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(row)) out[key] = typeof value === "bigint" ? Number(value) : value;
    return out;
  });
}

export async function queryValue<T = unknown>(con: DuckDBConnection, sql: string): Promise<T> {
  const rows = await queryObjects(con, sql);
  const first = rows[0];
  return (first ? Object.values(first)[0] : undefined) as T;
}

export type ColumnData =
  | { name: string; kind: "int"; data: Int32Array }
  | { name: string; kind: "double"; data: Float64Array };

const CHUNK_ROWS = 2048;

/** Creates `table` and bulk-appends equal-length columns through DuckDB's appender, a chunk at a time. */
export async function appendColumns(con: DuckDBConnection, table: string, columns: ColumnData[]): Promise<void> {
  const typeOf = (c: ColumnData): DuckDBType => (c.kind === "int" ? INTEGER : DOUBLE);
  // A type's text is its SQL name ("INTEGER", "DOUBLE").
  await con.run(`CREATE OR REPLACE TABLE ${sqlIdent(table)} (${columns.map((c) => `${sqlIdent(c.name)} ${typeOf(c)}`).join(", ")})`);
  const n = columns[0]?.data.length ?? 0;
  const appender = await con.createAppender(table);
  const chunk = DuckDBDataChunk.create(columns.map(typeOf), CHUNK_ROWS);
  for (let start = 0; start < n; start += CHUNK_ROWS) {
    const end = Math.min(n, start + CHUNK_ROWS);
    chunk.rowCount = end - start;
    columns.forEach((column, k) => chunk.setColumnValues(k, Array.from(column.data.subarray(start, end))));
    appender.appendDataChunk(chunk);
  }
  appender.flushSync();
  appender.closeSync();
}
