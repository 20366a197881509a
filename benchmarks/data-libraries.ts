/**
 * Side-by-side: reading a prepared training file into typed arrays with hyparquet (pure JS,
 * columnar) vs DuckDB (what mkt's reader uses), alternately, median of 3 runs each.
 * Usage: node --import tsx benchmarks/data-libraries.ts [file.parquet]
 * (default: the synthetic-paper source/train file that `npm run bench` prepares).
 */
import { asyncBufferFromFile, parquetMetadataAsync, parquetRead } from "hyparquet";
import { openDuck, sqlString } from "../src/data/duck.ts";
import duckdb from "@duckdb/node-bindings";
import { median } from "./stats.ts";

const file = process.argv[2] ?? "results/bench/prepared/synthetic-paper/source/train.parquet";

async function withHyparquet(): Promise<number> {
  const buffer = await asyncBufferFromFile(file);
  const metadata = await parquetMetadataAsync(buffer);
  const rows = Number(metadata.num_rows);
  const columns: Record<string, Int32Array> = {};
  await parquetRead({
    file: buffer,
    metadata,
    onChunk: ({ columnName, columnData, rowStart }) => {
      const values = columnData as ArrayLike<unknown>;
      const isList = Array.isArray(values[0]);
      const width = isList ? (values[0] as unknown[]).length : 1;
      const out = (columns[columnName] ??= new Int32Array(rows * width));
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (isList) (v as number[]).forEach((x, k) => (out[(rowStart + i) * width + k] = Number(x)));
        else out[rowStart + i] = Number(v);
      }
    },
  });
  return rows;
}

async function withDuckDb(): Promise<number> {
  const duck = await openDuck({ threads: 1 });
  try {
    const described = await duck.con.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${sqlString(file)})`);
    const cols = described.getRowObjectsJS().map((r) => ({ name: String(r.column_name), type: String(r.column_type) }));
    const select = cols.map((c) => (c.type.endsWith("[]") ? `"${c.name}"::INTEGER[20]` : `"${c.name}"::INTEGER`)).join(", ");
    const result = await duck.con.stream(`SELECT ${select} FROM read_parquet(${sqlString(file)})`);
    let rows = 0;
    const out: Int32Array[] = [];
    for (let chunk = await result.fetchChunk(); chunk && chunk.rowCount > 0; chunk = await result.fetchChunk()) {
      const n = chunk.rowCount;
      cols.forEach((c, k) => {
        let vector = duckdb.data_chunk_get_vector(chunk.chunk, k);
        const width = c.type.endsWith("[]") ? 20 : 1;
        if (width > 1) vector = duckdb.array_vector_get_child(vector);
        const data = duckdb.vector_get_data(vector, n * width * 4);
        out[k] = new Int32Array(data.buffer, data.byteOffset, n * width).slice();
      });
      rows += n;
    }
    return rows;
  } finally {
    duck.close();
  }
}

const times: Record<string, number[]> = { hyparquet: [], duckdb: [] };
let rows = 0;
for (let round = 0; round < 3; round++) {
  for (const [name, run] of [
    ["hyparquet", withHyparquet],
    ["duckdb", withDuckDb],
  ] as const) {
    const start = performance.now();
    rows = await run();
    times[name]!.push((performance.now() - start) / 1000);
  }
}

const h = median(times.hyparquet!);
const d = median(times.duckdb!);
console.log(`${rows.toLocaleString("en-US")} rows of ${file}`);
console.log(`hyparquet: ${(rows / h).toFixed(0)} rows/s (median ${h.toFixed(2)} s)`);
console.log(`duckdb:    ${(rows / d).toFixed(0)} rows/s (median ${d.toFixed(2)} s)`);
console.log(`duckdb / hyparquet: ${(h / d).toFixed(1)}×`);
