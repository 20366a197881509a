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

  it("reads the files once for a shuffled read that fits its buffer: later passes (other seeds) give a fresh read's batches", async () => {
    const dir = ds.dir;
    const connects = () => {
      const duck = (ds as unknown as { duck: { connect: () => Promise<unknown> } }).duck;
      const connect = duck.connect;
      let calls = 0;
      duck.connect = () => (calls++, connect());
      return { calls: () => calls, restore: () => void (duck.connect = connect) };
    };
    const rows = ds.rowCount({ split: "train", entities: ["source", "target"] });
    const fits = (seed: number): BatchOptions => ({ split: "train", entities: ["source", "target"], batchSize: 256, shuffle: { bufferRows: rows + 10, seed } });
    const small = (seed: number): BatchOptions => ({ split: "train", entities: ["source", "target"], batchSize: 256, shuffle: { bufferRows: 600, seed } });
    const fresh = await PreparedDataset.open(dir);
    try {
      const count = connects();
      try {
        const passes = [await readAll(ds, fits(3)), await readAll(ds, fits(4)), await readAll(ds, fits(3))];
        expect(count.calls()).toBe(2); // the first pass only: one stream per entity
        expect(rowKeys(passes[1]!)).toEqual(rowKeys(await readAll(fresh, fits(4))));
        expect(rowKeys(passes[2]!)).toEqual(rowKeys(passes[0]!));
        expect(rowKeys(passes[0]!)).not.toEqual(rowKeys(passes[1]!));
        // A read larger than its buffer is read from the files every time.
        const before = count.calls();
        const second = await readAll(ds, small(5));
        await readAll(ds, small(5));
        expect(count.calls() - before).toBe(4);
        expect(rowKeys(second)).toEqual(rowKeys(await readAll(fresh, small(5))));
      } finally {
        count.restore();
      }
    } finally {
      fresh.close();
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
