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

/** Recycled id arrays kept per length: a few batches' worth (3 elements × 2 sequences each). */
const ID_POOL_LIMIT = 24;

/** Columns read as scalars, in this order, before the feature columns. */
const META = ["entity", "label", "user_key", "user_clicks", "slice"] as const;

/**
 * Streams a prepared split as batches of typed arrays. DuckDB scans the Parquet files (sequence
 * lists cast to fixed-size arrays, so each column arrives as one contiguous int buffer); rows go
 * through a bounded shuffle buffer for training; rows already read are kept up to KEPT_BYTES, so
 * memory does not grow with the dataset beyond that.
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

  /**
   * Shuffled reads that fit in their shuffle buffer, as the buffer held them once filled (by read
   * key): a later pass (the next epoch) draws from it, read and never written, instead of reading
   * the files again. The buffer's rows and their order are the same either way, so the batches are too.
   */
  private readonly filledBuffers = new Map<string, FilledBuffer>();
  /**
   * A file's rows as its query returned them, chunk by chunk, once a read reached its end (by
   * query): a later read of the same rows (the next epoch of a joint model, every validation) takes
   * them from memory instead of DuckDB. Same chunks, so the same pieces, batches and shuffles.
   */
  private readonly keptChunks = new Map<string, ColumnBlock[]>();
  /** Bytes held by filledBuffers and keptChunks together, at most KEPT_BYTES. */
  private keptBytes = 0;

  /** Recycled sequence id arrays by length (recycle()), and the batches already recycled. */
  private readonly idPool = new Map<number, Int32Array[]>();
  private readonly recycled = new WeakSet<Batch>();

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

  /**
   * Hands a batch's sequence id arrays (the bulk of its memory: 3 elements × maxlen ints per row
   * and sequence) back for later batches of this dataset: call it when nothing reads the batch any
   * more. Allocating them afresh for every batch cost ~15 % of the reader's time (zero-filling and
   * GC); reused, they are zeroed with one fill. A batch recycled twice is ignored.
   */
  recycle(batch: Batch): void {
    if (this.recycled.has(batch)) return;
    this.recycled.add(batch);
    for (const seq of Object.values(batch.sequences)) {
      for (const ids of Object.values(seq.ids)) {
        // Only whole arrays of their own buffer (not a view a consumer made, not transferred away).
        if (ids.byteOffset !== 0 || ids.byteLength !== ids.buffer.byteLength || ids.length === 0) continue;
        let free = this.idPool.get(ids.length);
        if (free === undefined) this.idPool.set(ids.length, (free = []));
        if (free.length < ID_POOL_LIMIT && !free.includes(ids)) free.push(ids);
      }
    }
  }

  /** A zeroed Int32Array of `length`: a recycled one where there is one. */
  private idArray(length: number): Int32Array {
    const reused = this.idPool.get(length)?.pop();
    return reused ? reused.fill(0) : new Int32Array(length);
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
    const shape: BlockShape = {
      scalars: scalarCols.length,
      arrays: arrayCols.length,
      width: maxlen,
      lengthColumns: this.schema.sequences.map((s) => scalarCols.indexOf(s.lengthColumn)),
    };
    const uniform = mulberry32(options.shuffle?.seed ?? 0);
    const keepPartial = options.keepPartial !== false;
    // The buffer's rows depend on what is read and on its capacity (ShuffleBatcher's), not on the seed.
    const key = options.shuffle && JSON.stringify([options.split, options.entities, options.slices ?? null, Math.max(options.shuffle.bufferRows, options.batchSize)]);
    const filled = key ? this.filledBuffers.get(key) : undefined;
    if (filled) {
      // Sized to the rows held: finish() draws from those, never from the capacity.
      const batcher = new ShuffleBatcher(options.batchSize, filled.rows, shape, uniform, filled);
      for (const block of batcher.finish(keepPartial)) yield this.toBatch(block, scalarCols, arrayCols);
      return;
    }
    const streams: RowStream[] = [];
    try {
      for (const f of this.files(options)) {
        const where = options.slices ? ` WHERE slice IN (${options.slices.map(Number).join(", ") || "NULL"})` : "";
        const sql = `SELECT ${select} FROM read_parquet(${sqlString(join(this.dir, f.file))})${where}`;
        const kept = this.keptChunks.get(sql);
        if (kept) {
          streams.push(new KeptStream(kept, f.rows));
          continue;
        }
        const bytes = f.rows * 4 * (shape.scalars + shape.arrays * shape.width);
        const keep = this.keptBytes + bytes <= KEPT_BYTES ? (chunks: ColumnBlock[]) => this.keep(sql, chunks, bytes) : undefined;
        streams.push(new ChunkStream(await this.duck.connect(), sql, f.rows, shape, keep));
      }
      const mixer = new PieceMixer(streams);
      const batcher = options.shuffle
        ? new ShuffleBatcher(options.batchSize, options.shuffle.bufferRows, shape, uniform)
        : new SequentialBatcher(options.batchSize, shape);
      // Await only to load DuckDB chunks; rows move in synchronous, column-wise copies between loads.
      for (let piece = await mixer.nextPiece(); piece; piece = await mixer.nextPiece()) {
        for (const block of batcher.add(piece)) yield this.toBatch(block, scalarCols, arrayCols);
      }
      if (key && batcher instanceof ShuffleBatcher) this.keepFilled(key, batcher);
      for (const block of batcher.finish(keepPartial)) yield this.toBatch(block, scalarCols, arrayCols);
    } finally {
      for (const s of streams) await s.close();
    }
  }

  /** Keeps a shuffle buffer that holds a whole read, within KEPT_BYTES. */
  private keepFilled(key: string, batcher: ShuffleBatcher): void {
    const filled = batcher.wholeRead();
    // The whole buffer stays allocated behind the view: count its bytes.
    if (filled !== undefined && this.reserve(filled.data.buffer.byteLength)) this.filledBuffers.set(key, filled);
  }

  /** Keeps a query's chunks (read to its end; `bytes` at most), within KEPT_BYTES. */
  private keep(sql: string, chunks: ColumnBlock[], bytes: number): void {
    if (!this.keptChunks.has(sql) && this.reserve(bytes)) this.keptChunks.set(sql, chunks);
  }

  /** Counts `bytes` as kept if they fit in what is left of KEPT_BYTES. */
  private reserve(bytes: number): boolean {
    if (this.keptBytes + bytes > KEPT_BYTES) return false;
    this.keptBytes += bytes;
    return true;
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
      const lengths = col(scalarCols.indexOf(seq.lengthColumn));
      const outs = table.elements.map(() => this.idArray(n * seq.maxlen));
      // Only the first `length` elements of a row are items (newest first); the rest is padding,
      // item row 0, whose ids are 0 as idArray's arrays (fresh or zeroed) already are. Most of a
      // sequence is padding.
      for (let r = 0; r < n; r++) {
        for (let i = r * seq.maxlen, end = i + lengths[r]!; i < end; i++) {
          const base = rows[i]! * width;
          for (let f = 0; f < width; f++) outs[f]![i] = table.ids[base + f]!;
        }
      }
      const ids = Object.fromEntries(table.elements.map((element, f) => [element, outs[f]!]));
      sequences[seq.name] = { maxlen: seq.maxlen, length: lengths, ids };
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
  /** Per array: the scalar column holding its length (elements past it are padding, 0). */
  lengthColumns: number[];
}

/** A shuffle buffer holding a whole read, as filled: `rows` rows, row-major (RowBuffer's layout); never written again. */
interface FilledBuffer {
  rows: number;
  data: Int32Array;
}

/**
 * At most this many bytes of reads are kept in memory per dataset (PreparedDataset.filledBuffers
 * and keptChunks): room for all of a dataset whose reading is a noticeable share of an epoch
 * (Douban's reads: 43 MB), little beside a large dataset, whose larger files are then read from
 * DuckDB every time.
 */
const KEPT_BYTES = 128 * 2 ** 20;

/** Where a read's rows come from, a chunk at a time: DuckDB (ChunkStream) or memory (KeptStream). */
interface RowStream {
  /** Rows the stream was opened for (its file's rows): the mixer's share of it. */
  readonly remaining: number;
  next(): Promise<ColumnBlock | undefined>;
  close(): Promise<void>;
}

/** The chunks of an earlier read of the same query, in order (read, never written). */
class KeptStream implements RowStream {
  private index = 0;

  constructor(
    private readonly chunks: ColumnBlock[],
    readonly remaining: number,
  ) {}

  async next(): Promise<ColumnBlock | undefined> {
    return this.chunks[this.index++];
  }

  async close(): Promise<void> {}
}

/** Rows of a DuckDB data chunk (its vector size) at most. */
const CHUNK_ROWS = 2048;

/**
 * One DuckDB streaming query, read a chunk (up to 2,048 rows) at a time into a ColumnBlock. With
 * `keep`, every chunk gets a block of its own, handed to `keep` once the query has ended.
 */
class ChunkStream implements RowStream {
  remaining: number;
  /** Every chunk so far, when they are to be kept. */
  private readonly kept: { chunks: ColumnBlock[]; done: (chunks: ColumnBlock[]) => void } | undefined;
  private result: Promise<DuckDBResult> | undefined;
  /** The next chunk, already requested: DuckDB decodes it while JS works on the current one. */
  private prefetched: Promise<ColumnBlock | undefined> | undefined;
  private readonly pool: (ColumnBlock | undefined)[] = [undefined, undefined];
  private turn = 0;

  constructor(
    private readonly con: DuckDBConnection,
    private readonly sql: string,
    rows: number,
    private readonly shape: BlockShape,
    keep?: (chunks: ColumnBlock[]) => void,
  ) {
    this.remaining = rows;
    this.kept = keep && { chunks: [], done: keep };
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
      this.kept?.done(this.kept.chunks);
      return undefined;
    }
    const n = chunk.rowCount;
    const { scalars, arrays, width } = this.shape;
    // Unless kept: two blocks per stream, used in turn (allocating one per chunk cost 9 % of the
    // shuffled reader's time in zero-filling and GC): the consumer is done with the block handed
    // out last when it asks for the next one (next()), and only the fetch after that reuses it.
    let block: ColumnBlock;
    if (this.kept) {
      this.kept.chunks.push((block = new ColumnBlock(n, scalars, arrays, width)));
    } else {
      const pooled = this.pool[this.turn];
      block = pooled && pooled.capacity >= n ? pooled : (this.pool[this.turn] = new ColumnBlock(Math.max(n, CHUNK_ROWS), scalars, arrays, width));
      this.turn ^= 1;
    }
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
  private readonly states: { stream: RowStream; total: number; delivered: number; block?: ColumnBlock; next: number; done: boolean }[];

  constructor(streams: RowStream[]) {
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

/**
 * Turns pieces of rows into batches. Batches come one at a time and a batch's array columns (item
 * rows) may be reused for the next one: the caller expands them (toBatch) before asking for more.
 */
interface Batcher {
  /** Takes a piece of rows; yields the batches that became full. */
  add(piece: Piece): Generator<ColumnBlock>;
  /** The rows left, as batches (the last one partial if keepPartial). */
  finish(keepPartial: boolean): Generator<ColumnBlock>;
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

  *add({ block: chunk, from: start, count: rows }: Piece): Generator<ColumnBlock> {
    for (let from = start; from < start + rows; ) {
      const count = Math.min(start + rows - from, this.batchSize - this.current.rows);
      this.current.copyRange(chunk, from, this.current.rows, count);
      this.current.rows += count;
      from += count;
      if (this.current.rows === this.batchSize) {
        const full = this.current;
        this.current = newBlock(this.batchSize, this.shape);
        yield full;
      }
    }
  }

  *finish(keepPartial: boolean): Generator<ColumnBlock> {
    if (keepPartial && this.current.rows > 0) yield this.current;
  }
}

/**
 * A bounded shuffle buffer (training). Once full, each batch is a uniform draw without replacement
 * of `batchSize` buffered rows (partial Fisher–Yates over a slot permutation); incoming rows then
 * take the freed slots, and the next batch is drawn when they are all filled. The buffer is row-major (all of a row's ints side by side): a random row
 * is then a few consecutive cache lines rather than one line per column, which halved the time
 * shuffling takes (docs/performance.md).
 */
class ShuffleBatcher implements Batcher {
  private readonly buffer: RowBuffer;
  private readonly permutation: Int32Array;
  private permutationRows = -1;
  /** The array columns of every batch taken (reused: allocating them per batch cost ~6 %). */
  private readonly itemRows: Int32Array[];
  /** Slots of the last batch drawn; those from `holes` on are still empty. */
  private holeSlots: Int32Array = new Int32Array(0);
  private holes = 0;
  /** Whether add() emitted a batch (then the buffer never held the whole read). */
  private emitted = false;

  constructor(
    private readonly batchSize: number,
    capacity: number,
    shape: BlockShape,
    private readonly uniform: () => number,
    /** A whole read as wholeRead() gave it (read, not copied): the batcher is then ready for finish(). */
    filled?: FilledBuffer,
  ) {
    const rows = Math.max(capacity, batchSize);
    this.buffer = new RowBuffer(rows, shape, filled);
    this.itemRows = Array.from({ length: shape.arrays }, () => new Int32Array(batchSize * shape.width));
    this.permutation = Int32Array.from({ length: rows }, (_, i) => i);
  }

  *add({ block: chunk, from: start, count: rows }: Piece): Generator<ColumnBlock> {
    let from = start;
    const end = start + rows;
    const buffer = this.buffer;
    while (from < end) {
      if (this.holes < this.holeSlots.length) {
        // Slots emitted by the last draw and not yet refilled: incoming rows take them.
        const count = Math.min(end - from, this.holeSlots.length - this.holes);
        for (let i = 0; i < count; i++) buffer.put(chunk, from + i, this.holeSlots[this.holes + i]!);
        this.holes += count;
        from += count;
        continue;
      }
      if (buffer.rows < buffer.capacity) {
        const count = Math.min(end - from, buffer.capacity - buffer.rows);
        for (let i = 0; i < count; i++) buffer.put(chunk, from + i, buffer.rows + i);
        buffer.rows += count;
        from += count;
        continue;
      }
      // Full: emit a batch drawn from all buffered rows; its slots become holes for the next rows.
      // (Filling them as rows arrive, rather than moving the buffer's last rows into them, saves
      // a random read and write per row.)
      const slots = this.drawSlots(this.batchSize, buffer.capacity);
      this.holeSlots = slots;
      this.holes = 0;
      this.emitted = true;
      yield buffer.take(slots, this.itemRows);
    }
  }

  /**
   * The buffer once every row of the read is in it (call before finish(), which only repoints
   * slots: the rows stay as they are); undefined if add() emitted a batch.
   */
  wholeRead(): FilledBuffer | undefined {
    return this.emitted ? undefined : this.buffer.filled();
  }

  *finish(keepPartial: boolean): Generator<ColumnBlock> {
    const buffer = this.buffer;
    this.compact(this.holeSlots.subarray(this.holes));
    this.holeSlots = new Int32Array(0);
    this.holes = 0;
    while (buffer.rows >= this.batchSize) {
      const slots = this.drawSlots(this.batchSize, buffer.rows);
      const block = buffer.take(slots, this.itemRows);
      this.compact(slots);
      yield block;
    }
    if (keepPartial && buffer.rows > 0) {
      const block = buffer.take(this.drawSlots(buffer.rows, buffer.rows), this.itemRows);
      buffer.rows = 0;
      yield block;
    }
    buffer.rows = 0;
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

  /** Removes the rows at `slots` (already emitted) by moving the last rows into them. */
  private compact(slots: Int32Array): void {
    const sorted = Int32Array.from(slots).sort().reverse();
    for (const slot of sorted) {
      const last = --this.buffer.rows;
      if (slot !== last) this.buffer.move(last, slot);
    }
  }
}

/**
 * Rows stored row-major, row r in ints [r·stride, (r+1)·stride): its scalars, then each array. A
 * slot names a row through `rowOf`: move() repoints a slot instead of copying the row's ints, so a
 * buffer over a whole read kept from an earlier pass (`filled`) is read, never written.
 */
class RowBuffer {
  rows = 0;
  private readonly stride: number;
  private readonly data: Int32Array;
  private readonly rowOf: Int32Array;

  /** Empty, or over `filled`'s rows (shared, not copied: only take() and move() may then be used). */
  constructor(
    readonly capacity: number,
    private readonly shape: BlockShape,
    filled?: FilledBuffer,
  ) {
    this.stride = shape.scalars + shape.arrays * shape.width;
    this.data = filled?.data ?? new Int32Array(capacity * this.stride);
    this.rows = filled?.rows ?? 0;
    this.rowOf = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.rowOf[i] = i;
  }

  /**
   * Writes row `from` of a columnar block into slot `to`. Arrays are copied up to their length only:
   * what lies past it in the slot is stale, and take() never reads it.
   */
  put(block: ColumnBlock, from: number, to: number): void {
    const { data, stride } = this;
    const { width: w, lengthColumns } = this.shape;
    const row = this.rowOf[to]! * stride;
    const scalars = block.scalars;
    for (let c = 0; c < scalars.length; c++) data[row + c] = scalars[c]![from]!;
    for (let a = 0, d = row + scalars.length; a < block.arrays.length; a++, d += w) {
      const src = block.arrays[a]!;
      for (let k = 0, s = from * w, n = scalars[lengthColumns[a]!]![from]!; k < n; k++) data[d + k] = src[s + k]!;
    }
  }

  /**
   * The rows at `slots` as a columnar block, in slot order: new scalar columns, and the array
   * columns written into `arrays` (≥ slots × width ints each) up to each row's length only: what
   * lies past it is stale (toBatch never reads it).
   */
  take(slots: Int32Array, arrays: Int32Array[]): ColumnBlock {
    const n = slots.length;
    const block = new ColumnBlock(n, this.shape.scalars, 0, this.shape.width);
    block.arrays.push(...arrays);
    block.rows = n;
    const { data, stride, rowOf } = this;
    const { width: w, lengthColumns } = this.shape;
    const scalars = block.scalars;
    for (let i = 0; i < n; i++) {
      const row = rowOf[slots[i]!]! * stride;
      for (let c = 0; c < scalars.length; c++) scalars[c]![i] = data[row + c]!;
      for (let a = 0, s = row + scalars.length; a < arrays.length; a++, s += w) {
        const dst = arrays[a]!;
        for (let k = 0, d = i * w, len = data[row + lengthColumns[a]!]!; k < len; k++) dst[d + k] = data[s + k]!;
      }
    }
    return block;
  }

  /** Slot `to` now holds slot `from`'s row. */
  move(from: number, to: number): void {
    this.rowOf[to] = this.rowOf[from]!;
  }

  /** The rows held, in slot order (before any move): a view of this buffer, which put() must not write again. */
  filled(): FilledBuffer {
    return { rows: this.rows, data: this.data.subarray(0, this.rows * this.stride) };
  }
}

function newBlock(rows: number, shape: BlockShape): ColumnBlock {
  return new ColumnBlock(rows, shape.scalars, shape.arrays, shape.width);
}
