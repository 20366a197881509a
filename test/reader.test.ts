import { beforeAll, afterAll, describe, expect, it } from "vitest";
import type { Batch } from "../src/data/batch.ts";
import { PreparedDataset, type BatchOptions } from "../src/data/reader.ts";
import { prepareSpecFile } from "./helpers/prepared.ts";

async function readAll(ds: PreparedDataset, options: BatchOptions): Promise<Batch[]> {
  const batches: Batch[] = [];
  for await (const b of ds.batches(options)) batches.push(b);
  return batches;
}

/** One string per row identifying it (user, entity, label, features, sequences). */
function rowKeys(batches: Batch[]): string[] {
  const keys: string[] = [];
  for (const b of batches) {
    for (let i = 0; i < b.size; i++) {
      const parts = [b.userKey[i], b.entity[i], b.label[i], b.slice[i], ...Object.values(b.features).map((f) => f[i])];
      for (const seq of Object.values(b.sequences)) {
        parts.push(seq.length[i]!);
        for (const ids of Object.values(seq.ids)) parts.push(...ids.subarray(i * seq.maxlen, (i + 1) * seq.maxlen));
      }
      keys.push(parts.join(","));
    }
  }
  return keys;
}

describe("batch reader", () => {
  let ds: PreparedDataset;
  beforeAll(async () => {
    const prepared = await prepareSpecFile("datasets/synthetic-tiny.yaml");
    ds = await PreparedDataset.open(prepared.dir);
  });
  afterAll(() => ds.close());

  it("reads an evaluation split once, in order, in full batches but the last", async () => {
    const batches = await readAll(ds, { split: "test", entities: ["target"], batchSize: 300 });
    const split = ds.stats.splits["target/test"]!;
    expect(batches.reduce((s, b) => s + b.size, 0)).toBe(split.rows);
    expect(batches.slice(0, -1).every((b) => b.size === 300)).toBe(true);
    expect(batches.reduce((s, b) => s + b.label.reduce((x, y) => x + y, 0), 0)).toBe(split.positives);
    expect(batches.every((b) => b.entity.every((e) => e === 1))).toBe(true);
    // Evaluation files are ordered by user.
    const users = batches.flatMap((b) => Array.from(b.userKey));
    expect(users).toEqual([...users].sort((a, b) => a - b));
  });

  // Batches of the reader's piece size (256), larger (slots left empty by a draw are refilled over
  // several pieces) and smaller (several batches per piece).
  it.each([
    [256, 1000],
    [500, 700],
    [100, 2000],
  ])("shuffles a mixed train split through a bounded buffer: every row exactly once, seeded (batch %i, buffer %i)", async (batchSize, bufferRows) => {
    const options = { split: "train", entities: ["source", "target"], batchSize } as const;
    const plain = rowKeys(await readAll(ds, options));
    const shuffled = rowKeys(await readAll(ds, { ...options, shuffle: { bufferRows, seed: 3 } }));
    const again = rowKeys(await readAll(ds, { ...options, shuffle: { bufferRows, seed: 3 } }));
    const other = rowKeys(await readAll(ds, { ...options, shuffle: { bufferRows, seed: 4 } }));
    expect(shuffled.length).toBe(ds.stats.splits["source/train"]!.rows + ds.stats.splits["target/train"]!.rows);
    expect([...shuffled].sort()).toEqual([...plain].sort());
    expect(shuffled).not.toEqual(plain);
    expect(again).toEqual(shuffled);
    expect(other).not.toEqual(shuffled);
  });

  it.each([false, true])("recycled batches' id arrays are reused, zeroed, and change nothing (shuffled: %s)", async (shuffled) => {
    const options: BatchOptions = { split: "train", entities: ["source", "target"], batchSize: 300, ...(shuffled ? { shuffle: { bufferRows: 900, seed: 5 } } : {}) };
    const fresh = rowKeys(await readAll(ds, options));
    const keys: string[] = [];
    const seen = new Set<Int32Array>();
    let reused = 0;
    for await (const batch of ds.batches(options)) {
      keys.push(...rowKeys([batch]));
      for (const seq of Object.values(batch.sequences)) for (const ids of Object.values(seq.ids)) if (seen.has(ids)) reused++;
      for (const seq of Object.values(batch.sequences)) for (const ids of Object.values(seq.ids)) seen.add(ids);
      ds.recycle(batch);
      ds.recycle(batch); // a second time is ignored (else two later batches would share arrays)
    }
    expect(keys).toEqual(fresh);
    expect(reused).toBeGreaterThan(0);
  });

  it("never hands one recycled array to two live batches", async () => {
    const options: BatchOptions = { split: "test", entities: ["target"], batchSize: 200 };
    const iterator = ds.batches(options)[Symbol.asyncIterator]();
    const first = (await iterator.next()).value as Batch;
    ds.recycle(first);
    ds.recycle(first);
    const second = (await iterator.next()).value as Batch;
    const third = (await iterator.next()).value as Batch;
    const arrays = (b: Batch) => Object.values(b.sequences).flatMap((s) => Object.values(s.ids));
    const inSecond = new Set(arrays(second));
    expect(arrays(third).some((a) => inSecond.has(a))).toBe(false);
    await iterator.return?.(undefined);
  });

  it("keeps the real source:target ratio from the first batches on", async () => {
    const batches = await readAll(ds, { split: "train", entities: ["source", "target"], batchSize: 512, shuffle: { bufferRows: 4096, seed: 1 } });
    const share = ds.stats.splits["target/train"]!.rows / (ds.stats.splits["target/train"]!.rows + ds.stats.splits["source/train"]!.rows);
    const firstFive = batches.slice(0, 5);
    const targets = firstFive.reduce((s, b) => s + b.entity.reduce((x, y) => x + y, 0), 0);
    expect(targets / (5 * 512)).toBeGreaterThan(share - 0.08);
    expect(targets / (5 * 512)).toBeLessThan(share + 0.08);
  });

  it("reads each file once: later reads of it (other seeds, other buffers, in order) give a fresh dataset's batches", async () => {
    const rows = ds.rowCount({ split: "train", entities: ["source", "target"] });
    const fits = (seed: number): BatchOptions => ({ split: "train", entities: ["source", "target"], batchSize: 256, shuffle: { bufferRows: rows + 10, seed } });
    const small = (seed: number): BatchOptions => ({ split: "train", entities: ["source", "target"], batchSize: 256, shuffle: { bufferRows: 600, seed } });
    const inOrder: BatchOptions = { split: "test", entities: ["target"], batchSize: 300 };
    /** The batches of a read by a dataset that has read nothing before. */
    const freshRead = async (options: BatchOptions) => {
      const fresh = await PreparedDataset.open(ds.dir);
      try {
        return await readAll(fresh, options);
      } finally {
        fresh.close();
      }
    };
    const same = (a: Batch[], b: Batch[]) => {
      expect(a.map((x) => x.size)).toEqual(b.map((x) => x.size));
      expect(rowKeys(a)).toEqual(rowKeys(b));
    };
    const once = await PreparedDataset.open(ds.dir);
    const duck = (once as unknown as { duck: { connect: () => Promise<unknown> } }).duck;
    const connect = duck.connect;
    let connects = 0;
    duck.connect = () => (connects++, connect());
    try {
      // A read stopped before its query ended (20,061 rows: ~10 chunks) keeps nothing.
      const iterator = once.batches({ split: "train", entities: ["source"], batchSize: 100 })[Symbol.asyncIterator]();
      await iterator.next();
      await iterator.return?.(undefined);
      expect(connects).toBe(1);
      const passes = [await readAll(once, fits(3)), await readAll(once, fits(4)), await readAll(once, fits(3))];
      expect(connects).toBe(3); // the first pass only: one stream per entity
      same(passes[1]!, await freshRead(fits(4)));
      same(passes[2]!, passes[0]!);
      expect(rowKeys(passes[0]!)).not.toEqual(rowKeys(passes[1]!));
      // A read larger than its buffer: the same files, from memory.
      same(await readAll(once, small(5)), await freshRead(small(5)));
      same(await readAll(once, small(6)), await freshRead(small(6)));
      expect(connects).toBe(3);
      // Reads in order (evaluation): the first from the file, later ones from memory.
      const first = await readAll(once, inOrder);
      expect(connects).toBe(4);
      same(await readAll(once, inOrder), first);
      same(await readAll(once, { ...inOrder, batchSize: 128 }), await freshRead({ ...inOrder, batchSize: 128 }));
      expect(connects).toBe(4);
      same(first, await freshRead(inOrder));
    } finally {
      once.close();
    }
  });

  it.each([false, true])("expands sequence elements: ids are 0 exactly on padding (shuffled: %s)", async (shuffled) => {
    // Shuffled, rows with short sequences land in buffer slots that held longer ones before.
    const batches = await readAll(ds, { split: "train", entities: ["source", "target"], batchSize: 500, ...(shuffled ? { shuffle: { bufferRows: 700, seed: 2 } } : {}) });
    const batch = batches[batches.length - 2];
    for (const seq of Object.values(batch!.sequences)) {
      expect(Object.keys(seq.ids).sort()).toEqual(["category", "creator_id", "item_id"]);
      for (let i = 0; i < batch!.size; i++) {
        for (let j = 0; j < seq.maxlen; j++) {
          const id = seq.ids.item_id![i * seq.maxlen + j]!;
          const category = seq.ids.category![i * seq.maxlen + j]!;
          expect(id > 0).toBe(j < seq.length[i]!);
          expect(category > 0).toBe(j < seq.length[i]!);
        }
      }
    }
  });
});
