import { join } from "node:path";
import { readFile } from "node:fs/promises";
import duckdb from "@duckdb/node-bindings";
import type { DuckDBConnection, DuckDBResult } from "@duckdb/node-api";
import { UserError } from "../util/errors.ts";
import { mulberry32 } from "../util/random.ts";
import type { Batch, EntityName, SequenceBatch } from "./batch.ts";
import { ColumnBlock } from "./columns.ts";
import { openDuck, queryObjects, sqlIdent, sqlString, type Duck } from "./duck.ts";
import { readPreparedSchema, STATS_FILE, type PreparedSchema, type SplitName } from "./schema.ts";
import type { DatasetStats } from "./prepare/write.ts";

export interface BatchOptions {
  split: "train" | "valid" | "test";
  /** Entities whose rows to read: ["target"] for single-entity models, ["source", "target"] for joint ones. */
  entities: readonly EntityName[];
  batchSize: number;
  /** Bounded shuffle buffer (training). Without it rows come in file order, one pass (evaluation). */
  shuffle?: { bufferRows: number; seed: number };
  /** Keep a last batch smaller than batchSize (default true). */
  keepPartial?: boolean;
  /** Only rows of these time slices (e.g. continual training slice by slice). */
  slices?: readonly number[];
}

/** Columns read as scalars, in this order, before the feature columns. */
const META = ["entity", "label", "user_key", "user_clicks", "slice"] as const;

/**
 * Streams a prepared split as batches of typed arrays. DuckDB scans the Parquet files (sequence
 * lists cast to fixed-size arrays, so each column arrives as one contiguous int buffer); rows go
 * through a bounded shuffle buffer for training, so memory does not grow with the dataset.
 */
export class PreparedDataset {
  private constructor(
    readonly dir: string,
    readonly schema: PreparedSchema,
    readonly stats: DatasetStats,
    private readonly duck: Duck,
    /** Per sequence: element ids row-major [item row × element] (row 0 = padding = 0), one cache line per item. */
    private readonly itemTables: Record<string, { elements: string[]; ids: Int32Array }>,
  ) {}

  static async open(dir: string): Promise<PreparedDataset> {
    const schema = await readPreparedSchema(dir);
    const stats = JSON.parse(await readFile(join(dir, STATS_FILE), "utf8")) as DatasetStats;
    const duck = await openDuck({ threads: 1 });
    const itemTables: Record<string, { elements: string[]; ids: Int32Array }> = {};
    for (const seq of schema.sequences) {
      const elements = Object.keys(seq.elements);
      const rows = await queryObjects(duck.con, `SELECT item_row, ${elements.map(sqlIdent).join(", ")} FROM read_parquet(${sqlString(join(dir, seq.itemsFile))})`);
      const ids = new Int32Array((seq.itemCount + 1) * elements.length);
      for (const row of rows) elements.forEach((element, f) => (ids[Number(row.item_row) * elements.length + f] = Number(row[element])));
      itemTables[seq.name] = { elements, ids };
    }
    return new PreparedDataset(dir, schema, stats, duck, itemTables);
  }

  close(): void {
    this.duck.close();
  }

  /** Feature columns (user, shared, both entities' specific), in schema order. */
  get featureColumns(): string[] {
    return this.schema.features.map((f) => f.column);
  }

  /** Time slices of a split, ascending (continual training walks them in order). */
  async slices(split: BatchOptions["split"], entities: readonly EntityName[]): Promise<number[]> {
    const files = this.files({ split, entities }).map((f) => sqlString(join(this.dir, f.file)));
    const rows = await queryObjects(this.duck.con, `SELECT DISTINCT slice FROM read_parquet([${files.join(", ")}]) ORDER BY slice`);
    return rows.map((r) => Number(r.slice));
  }

  /** Number of rows the options would read (ignoring a slices filter). */
  rowCount(options: Pick<BatchOptions, "split" | "entities">): number {
    return this.files(options).reduce((sum, f) => sum + f.rows, 0);
  }

  private files(options: Pick<BatchOptions, "split" | "entities">): { file: string; rows: number }[] {
    return options.entities.map((entity) => {
      const name = `${entity}/${options.split}` as SplitName;
      const split = this.schema.splits[name];
      if (!split) throw new UserError(`${this.dir}: the prepared dataset has no ${name} split`);
      return split;
    });
  }

  async *batches(options: BatchOptions): AsyncGenerator<Batch> {
    const maxlen = this.schema.sequences[0]?.maxlen ?? 0;
    const scalarCols = [...META, ...this.featureColumns, ...this.schema.sequences.map((s) => s.lengthColumn)];
    const arrayCols = this.schema.sequences.map((s) => s.rowColumn);
    const select = [...scalarCols.map(sqlIdent), ...arrayCols.map((c) => `${sqlIdent(c)}::INTEGER[${maxlen}]`)].join(", ");
    const shape = { scalars: scalarCols.length, arrays: arrayCols.length, width: maxlen };
    const streams: ChunkStream[] = [];
    try {
      for (const f of this.files(options)) {
        const where = options.slices ? ` WHERE slice IN (${options.slices.map(Number).join(", ") || "NULL"})` : "";
        const sql = `SELECT ${select} FROM read_parquet(${sqlString(join(this.dir, f.file))})${where}`;
        streams.push(new ChunkStream(await this.duck.connect(), sql, f.rows, shape));
      }
      const uniform = mulberry32(options.shuffle?.seed ?? 0);
      const mixer = new PieceMixer(streams);
      const batcher = options.shuffle
        ? new ShuffleBatcher(options.batchSize, options.shuffle.bufferRows, shape, uniform)
        : new SequentialBatcher(options.batchSize, shape);
      // Await only to load DuckDB chunks; rows move in synchronous, column-wise copies between loads.
      for (let piece = await mixer.nextPiece(); piece; piece = await mixer.nextPiece()) {
        for (const block of batcher.add(piece)) yield this.toBatch(block, scalarCols, arrayCols);
      }
      for (const block of batcher.finish(options.keepPartial !== false)) yield this.toBatch(block, scalarCols, arrayCols);
    } finally {
      for (const s of streams) await s.close();
    }
  }

  private toBatch(block: ColumnBlock, scalarCols: string[], arrayCols: string[]): Batch {
    const n = block.rows;
    const col = (k: number) => block.scalars[k]!.subarray(0, n);
    const features: Record<string, Int32Array> = {};
    for (let k = META.length; k < META.length + this.featureColumns.length; k++) features[scalarCols[k]!] = col(k);
    const sequences: Record<string, SequenceBatch> = {};
    for (const seq of this.schema.sequences) {
      // Expand item rows into the ids of each element feature through the item table.
      const rows = block.arrays[arrayCols.indexOf(seq.rowColumn)]!;
      const table = this.itemTables[seq.name]!;
      const width = table.elements.length;
      const outs = table.elements.map(() => new Int32Array(n * seq.maxlen));
      for (let i = 0; i < n * seq.maxlen; i++) {
        const base = rows[i]! * width;
        for (let f = 0; f < width; f++) outs[f]![i] = table.ids[base + f]!;
      }
      const ids: Record<string, Int32Array> = {};
      table.elements.forEach((element, f) => (ids[element] = outs[f]!));
      sequences[seq.name] = { maxlen: seq.maxlen, length: col(scalarCols.indexOf(seq.lengthColumn)), ids };
    }
    return {
      size: n,
      entity: new Uint8Array(col(0)),
      label: new Float32Array(col(1)),
      userKey: col(2),
      userClicks: col(3),
      slice: col(4),
      features,
      sequences,
    };
  }
}

interface BlockShape {
  scalars: number;
  arrays: number;
  width: number;
}

/** One DuckDB streaming query, read a chunk (up to 2,048 rows) at a time into a ColumnBlock. */
class ChunkStream {
  remaining: number;
  private result: Promise<DuckDBResult> | undefined;
  /** The next chunk, already requested: DuckDB decodes it while JS works on the current one. */
  private prefetched: Promise<ColumnBlock | undefined> | undefined;

  constructor(
    private readonly con: DuckDBConnection,
    private readonly sql: string,
    rows: number,
    private readonly shape: BlockShape,
  ) {
    this.remaining = rows;
  }

  /** The next chunk, or undefined at the end. */
  async next(): Promise<ColumnBlock | undefined> {
    const block = await (this.prefetched ?? this.fetch());
    this.prefetched = block ? this.fetch() : undefined;
    return block;
  }

  private async fetch(): Promise<ColumnBlock | undefined> {
    this.result ??= this.con.stream(this.sql);
    const chunk = await (await this.result).fetchChunk();
    if (!chunk || chunk.rowCount === 0) {
      this.remaining = 0;
      return undefined;
    }
    const n = chunk.rowCount;
    const { scalars, arrays, width } = this.shape;
    const block = new ColumnBlock(n, scalars, arrays, width);
    block.rows = n;
    // Copy straight out of DuckDB's vector memory (valid until the next fetch); columns are never NULL.
    for (let c = 0; c < scalars; c++) {
      const data = duckdb.vector_get_data(duckdb.data_chunk_get_vector(chunk.chunk, c), n * 4);
      block.scalars[c]!.set(new Int32Array(data.buffer, data.byteOffset, n));
    }
    for (let a = 0; a < arrays; a++) {
      const child = duckdb.array_vector_get_child(duckdb.data_chunk_get_vector(chunk.chunk, scalars + a));
      const data = duckdb.vector_get_data(child, n * width * 4);
      block.arrays[a]!.set(new Int32Array(data.buffer, data.byteOffset, n * width));
    }
    this.remaining = Math.max(0, this.remaining - n);
    return block;
  }

  async close(): Promise<void> {
    await this.prefetched?.catch(() => undefined);
    this.con.closeSync();
  }
}

/** A run of consecutive rows of a block. */
interface Piece {
  block: ColumnBlock;
  from: number;
  count: number;
}

/** Rows handed out per piece: small enough that the mix is right even in a small shuffle buffer. */
const PIECE_ROWS = 256;

/**
 * Rows from several streams in pieces of up to PIECE_ROWS, always from the stream furthest behind
 * its share of all rows (a deficit scheduler), so a mixed source+target stream keeps the real
 * ratio throughout; the shuffle buffer then mixes rows within and across pieces.
 */
class PieceMixer {
  private readonly states: { stream: ChunkStream; total: number; delivered: number; block?: ColumnBlock; next: number; done: boolean }[];

  constructor(streams: ChunkStream[]) {
    this.states = streams.map((stream) => ({ stream, total: Math.max(stream.remaining, 1), delivered: 0, next: 0, done: false }));
  }

  async nextPiece(): Promise<Piece | undefined> {
    for (;;) {
      let pick: (typeof this.states)[number] | undefined;
      for (const s of this.states) if (!s.done && (!pick || s.delivered / s.total < pick.delivered / pick.total)) pick = s;
      if (!pick) return undefined;
      if (!pick.block || pick.next >= pick.block.rows) {
        pick.block = await pick.stream.next();
        pick.next = 0;
        if (!pick.block) {
          pick.done = true;
          continue;
        }
      }
      const count = Math.min(PIECE_ROWS, pick.block.rows - pick.next);
      const piece = { block: pick.block, from: pick.next, count };
      pick.next += count;
      pick.delivered += count;
      return piece;
    }
  }
}

interface Batcher {
  /** Takes a piece of rows; returns the batches that became full. */
  add(piece: Piece): ColumnBlock[];
  /** The rows left, as batches (the last one partial if keepPartial). */
  finish(keepPartial: boolean): ColumnBlock[];
}

/** Batches in stream order (evaluation). */
class SequentialBatcher implements Batcher {
  private current: ColumnBlock;

  constructor(
    private readonly batchSize: number,
    private readonly shape: BlockShape,
  ) {
    this.current = newBlock(batchSize, shape);
  }

  add({ block: chunk, from: start, count: rows }: Piece): ColumnBlock[] {
    const full: ColumnBlock[] = [];
    for (let from = start; from < start + rows; ) {
      const count = Math.min(start + rows - from, this.batchSize - this.current.rows);
      this.current.copyRange(chunk, from, this.current.rows, count);
      this.current.rows += count;
      from += count;
      if (this.current.rows === this.batchSize) {
        full.push(this.current);
        this.current = newBlock(this.batchSize, this.shape);
      }
    }
    return full;
  }

  finish(keepPartial: boolean): ColumnBlock[] {
    return keepPartial && this.current.rows > 0 ? [this.current] : [];
  }
}

/**
 * A bounded shuffle buffer (training). Once full, each batch is a uniform draw without replacement
 * of `batchSize` buffered rows (partial Fisher–Yates over a slot permutation); incoming rows then
 * take the freed slots. Rows move column by column (gather out, scatter in), not row by row.
 */
class ShuffleBatcher implements Batcher {
  private readonly buffer: ColumnBlock;
  private readonly permutation: Int32Array;
  private permutationRows = -1;

  constructor(
    private readonly batchSize: number,
    capacity: number,
    private readonly shape: BlockShape,
    private readonly uniform: () => number,
  ) {
    const rows = Math.max(capacity, batchSize);
    this.buffer = newBlock(rows, shape);
    this.permutation = Int32Array.from({ length: rows }, (_, i) => i);
  }

  add({ block: chunk, from: start, count: rows }: Piece): ColumnBlock[] {
    const out: ColumnBlock[] = [];
    let from = start;
    const end = start + rows;
    const capacity = this.buffer.capacity;
    while (from < end) {
      if (this.buffer.rows < capacity) {
        const count = Math.min(end - from, capacity - this.buffer.rows);
        this.buffer.copyRange(chunk, from, this.buffer.rows, count);
        this.buffer.rows += count;
        from += count;
        continue;
      }
      const count = Math.min(end - from, this.batchSize);
      const slots = this.drawSlots(this.batchSize, capacity);
      out.push(this.gather(slots));
      // The first `count` freed slots take the incoming rows; any others are refilled by later chunks
      // (only at the very end is count < batchSize, and then finish() drains the buffer).
      this.scatter(chunk, from, slots.subarray(0, count));
      if (count < this.batchSize) this.compact(slots.subarray(count));
      from += count;
    }
    return out;
  }

  finish(keepPartial: boolean): ColumnBlock[] {
    const out: ColumnBlock[] = [];
    while (this.buffer.rows >= this.batchSize) {
      const slots = this.drawSlots(this.batchSize, this.buffer.rows);
      out.push(this.gather(slots));
      this.compact(slots);
    }
    if (keepPartial && this.buffer.rows > 0) {
      out.push(this.gather(this.drawSlots(this.buffer.rows, this.buffer.rows)));
    }
    this.buffer.rows = 0;
    return out;
  }

  /** `k` distinct slots drawn uniformly from the first `n` rows. */
  private drawSlots(k: number, n: number): Int32Array {
    const p = this.permutation;
    // Swaps keep p a permutation of 0…n−1, so it needs resetting only when n changes (at the end).
    if (n !== this.permutationRows) {
      for (let i = 0; i < n; i++) p[i] = i;
      this.permutationRows = n;
    }
    for (let i = 0; i < k; i++) {
      const j = i + Math.floor(this.uniform() * (n - i));
      const t = p[i]!;
      p[i] = p[j]!;
      p[j] = t;
    }
    return p.slice(0, k);
  }

  private gather(slots: Int32Array): ColumnBlock {
    const batch = newBlock(slots.length, this.shape);
    batch.rows = slots.length;
    const n = slots.length;
    const w = this.shape.width;
    for (let c = 0; c < batch.scalars.length; c++) {
      const src = this.buffer.scalars[c]!;
      const dst = batch.scalars[c]!;
      for (let i = 0; i < n; i++) dst[i] = src[slots[i]!]!;
    }
    for (let a = 0; a < batch.arrays.length; a++) {
      const src = this.buffer.arrays[a]!;
      const dst = batch.arrays[a]!;
      for (let i = 0; i < n; i++) for (let k = 0, from = slots[i]! * w, to = i * w; k < w; k++) dst[to + k] = src[from + k]!;
    }
    return batch;
  }

  private scatter(chunk: ColumnBlock, from: number, slots: Int32Array): void {
    const n = slots.length;
    const w = this.shape.width;
    for (let c = 0; c < chunk.scalars.length; c++) {
      const src = chunk.scalars[c]!;
      const dst = this.buffer.scalars[c]!;
      for (let i = 0; i < n; i++) dst[slots[i]!] = src[from + i]!;
    }
    for (let a = 0; a < chunk.arrays.length; a++) {
      const src = chunk.arrays[a]!;
      const dst = this.buffer.arrays[a]!;
      for (let i = 0; i < n; i++) for (let k = 0, s = (from + i) * w, d = slots[i]! * w; k < w; k++) dst[d + k] = src[s + k]!;
    }
  }

  /** Removes the rows at `slots` (already emitted) by moving the last rows into them. */
  private compact(slots: Int32Array): void {
    const sorted = Int32Array.from(slots).sort().reverse();
    for (const slot of sorted) {
      const last = --this.buffer.rows;
      if (slot !== last) this.buffer.copyRow(this.buffer, last, slot);
    }
  }
}

function newBlock(rows: number, shape: BlockShape): ColumnBlock {
  return new ColumnBlock(rows, shape.scalars, shape.arrays, shape.width);
}
