import { join } from "node:path";
import { readFile } from "node:fs/promises";
import duckdb from "@duckdb/node-bindings";
import type { DuckDBConnection, DuckDBResult } from "@duckdb/node-api";
import { UserError } from "../util/errors.ts";
import { mulberry32 } from "../util/random.ts";
import type { Batch, EntityName, SequenceBatch } from "./batch.ts";
import { ColumnBlock } from "./columns.ts";
import { openDuck, sqlIdent, sqlString, type Duck } from "./duck.ts";
import { readPreparedSchema, STATS_FILE, type PreparedSchema, type SplitName } from "./schema.ts";
import type { DatasetStats } from "./prepare/write.ts";

export interface BatchOptions {
  split: "train" | "valid" | "test";
  /** Entities whose rows to read: ["target"] for single-entity models, ["source", "target"] for joint ones. */
  entities: EntityName[];
  batchSize: number;
  /** Bounded shuffle buffer (training). Without it rows come in file order, one pass (evaluation). */
  shuffle?: { bufferRows: number; seed: number };
  /** Keep a last batch smaller than batchSize (default true). */
  keepPartial?: boolean;
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
  ) {}

  static async open(dir: string): Promise<PreparedDataset> {
    const schema = await readPreparedSchema(dir);
    const stats = JSON.parse(await readFile(join(dir, STATS_FILE), "utf8")) as DatasetStats;
    return new PreparedDataset(dir, schema, stats, await openDuck({ threads: 1 }));
  }

  close(): void {
    this.duck.close();
  }

  /** Feature columns (user, shared, both entities' specific), in schema order. */
  get featureColumns(): string[] {
    return this.schema.features.map((f) => f.column);
  }

  /** Number of rows the options would read. */
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
    const arrayCols = this.schema.sequences.flatMap((s) => Object.values(s.columns));
    const select = [...scalarCols.map(sqlIdent), ...arrayCols.map((c) => `${sqlIdent(c)}::INTEGER[${maxlen}]`)].join(", ");
    const shape = { scalars: scalarCols.length, arrays: arrayCols.length, width: maxlen };
    const streams: ChunkStream[] = [];
    try {
      for (const f of this.files(options)) {
        const sql = `SELECT ${select} FROM read_parquet(${sqlString(join(this.dir, f.file))})`;
        streams.push(new ChunkStream(await this.duck.connect(), sql, f.rows, shape));
      }
      const uniform = mulberry32(options.shuffle?.seed ?? 0);
      const mixer = new RowMixer(streams, uniform);
      const assembler = new BatchAssembler(options.batchSize, shape, options.shuffle ? new ShuffleBuffer(options.shuffle.bufferRows, shape, uniform) : undefined);
      // Await only to load DuckDB chunks; rows move in synchronous loops between loads.
      while (await mixer.load()) {
        for (let row = mixer.next(); row; row = mixer.next()) assembler.add(row[0], row[1]);
        for (const block of assembler.takeFull()) yield this.toBatch(block, scalarCols, arrayCols);
      }
      for (const block of assembler.finish(options.keepPartial !== false)) yield this.toBatch(block, scalarCols, arrayCols);
    } finally {
      for (const s of streams) s.close();
    }
  }

  private toBatch(block: ColumnBlock, scalarCols: string[], arrayCols: string[]): Batch {
    const n = block.rows;
    const col = (k: number) => block.scalars[k]!.subarray(0, n);
    const features: Record<string, Int32Array> = {};
    for (let k = META.length; k < META.length + this.featureColumns.length; k++) features[scalarCols[k]!] = col(k);
    const sequences: Record<string, SequenceBatch> = {};
    for (const seq of this.schema.sequences) {
      const ids: Record<string, Int32Array> = {};
      for (const [element, column] of Object.entries(seq.columns)) {
        ids[element] = block.arrays[arrayCols.indexOf(column)]!.subarray(0, n * seq.maxlen);
      }
      sequences[seq.name] = { maxlen: seq.maxlen, length: col(scalarCols.indexOf(seq.lengthColumn)), ids };
    }
    return {
      size: n,
      entity: Uint8Array.from(col(0)),
      label: Float32Array.from(col(1)),
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
  block: ColumnBlock | undefined;
  next = 0;
  done = false;
  private result: Promise<DuckDBResult> | undefined;

  constructor(
    private readonly con: DuckDBConnection,
    private readonly sql: string,
    rows: number,
    private readonly shape: BlockShape,
  ) {
    this.remaining = rows;
  }

  get exhausted(): boolean {
    return !this.block || this.next >= this.block.rows;
  }

  /** Loads the next chunk; marks the stream done at the end. */
  async load(): Promise<void> {
    this.result ??= this.con.stream(this.sql);
    const chunk = await (await this.result).fetchChunk();
    if (!chunk || chunk.rowCount === 0) {
      this.done = true;
      return;
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
    this.block = block;
    this.next = 0;
  }

  close(): void {
    this.con.closeSync();
  }
}

/**
 * Rows from several streams, interleaved at random in proportion to the rows each has left, so a
 * mixed source+target stream keeps the real ratio throughout.
 */
class RowMixer {
  private readonly row: [ColumnBlock, number] = [undefined as unknown as ColumnBlock, 0];

  constructor(
    private readonly streams: ChunkStream[],
    private readonly uniform: () => number,
  ) {}

  /** Loads a chunk for every live stream that has none left; false when all are done. */
  async load(): Promise<boolean> {
    for (const s of this.streams) if (!s.done && s.exhausted) await s.load();
    return this.streams.some((s) => !s.done);
  }

  /** The next row, or undefined when the chosen stream needs a load() first (or all are done). */
  next(): [ColumnBlock, number] | undefined {
    let pick: ChunkStream | undefined;
    let total = 0;
    for (const s of this.streams) if (!s.done) total += Math.max(s.remaining, 1);
    if (total === 0) return undefined;
    let x = this.uniform() * total;
    for (const s of this.streams) {
      if (s.done) continue;
      pick = s;
      x -= Math.max(s.remaining, 1);
      if (x < 0) break;
    }
    if (!pick || pick.exhausted) return undefined;
    this.row[0] = pick.block!;
    this.row[1] = pick.next++;
    pick.remaining--;
    return this.row;
  }
}

/** A bounded shuffle buffer: once full, each added row evicts a random buffered row. */
class ShuffleBuffer {
  private readonly buffer: ColumnBlock;

  constructor(
    readonly capacity: number,
    shape: BlockShape,
    private readonly uniform: () => number,
  ) {
    this.buffer = new ColumnBlock(capacity, shape.scalars, shape.arrays, shape.width);
  }

  /** Adds a row; once full, first emits a random buffered row and puts the new row in its slot. */
  add(block: ColumnBlock, index: number, emit: (buffer: ColumnBlock, slot: number) => void): void {
    if (this.buffer.rows < this.capacity) {
      this.buffer.copyRow(block, index, this.buffer.rows++);
      return;
    }
    const slot = Math.floor(this.uniform() * this.capacity);
    emit(this.buffer, slot);
    this.buffer.copyRow(block, index, slot);
  }

  /** Emits what is left, in random order. */
  drain(emit: (buffer: ColumnBlock, slot: number) => void): void {
    for (let left = this.buffer.rows; left > 0; left--) {
      const slot = Math.floor(this.uniform() * left);
      emit(this.buffer, slot);
      this.buffer.copyRow(this.buffer, left - 1, slot);
    }
    this.buffer.rows = 0;
  }
}

/** Collects rows (through the shuffle buffer, if any) into full batches. */
class BatchAssembler {
  private current: ColumnBlock;
  private full: ColumnBlock[] = [];
  private readonly emit = (block: ColumnBlock, index: number) => {
    this.current.copyRow(block, index, this.current.rows++);
    if (this.current.rows === this.batchSize) {
      this.full.push(this.current);
      this.current = this.newBlock();
    }
  };

  constructor(
    private readonly batchSize: number,
    private readonly shape: BlockShape,
    private readonly shuffle: ShuffleBuffer | undefined,
  ) {
    this.current = this.newBlock();
  }

  private newBlock(): ColumnBlock {
    return new ColumnBlock(this.batchSize, this.shape.scalars, this.shape.arrays, this.shape.width);
  }

  add(block: ColumnBlock, index: number): void {
    if (this.shuffle) this.shuffle.add(block, index, this.emit);
    else this.emit(block, index);
  }

  takeFull(): ColumnBlock[] {
    const full = this.full;
    this.full = [];
    return full;
  }

  finish(keepPartial: boolean): ColumnBlock[] {
    this.shuffle?.drain(this.emit);
    const rest = this.takeFull();
    if (keepPartial && this.current.rows > 0) rest.push(this.current);
    return rest;
  }
}
