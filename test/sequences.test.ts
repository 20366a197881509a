import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { PrepareResult } from "../src/data/prepare/index.ts";
import { prepareSpecFile, readParquetRows } from "./helpers/prepared.ts";

/**
 * Brute force over every sample of synthetic-tiny: a sequence must be exactly the user's latest
 * clicks of that entity with time strictly before the sample's, newest first. Clicks sharing one
 * time may come in any order among themselves, so those are compared as sets.
 */
describe("behaviour sequences on synthetic-tiny (no leakage)", () => {
  let result: PrepareResult;
  let rows: Record<string, unknown>[];
  beforeAll(async () => {
    result = await prepareSpecFile("datasets/synthetic-tiny.yaml");
    const files = Object.values(result.schema.splits).map((s) => join(result.dir, s.file));
    rows = (await Promise.all(files.map((f) => readParquetRows(f, "entity, user_key, t, label, item_row, seq_source__item_row, seq_source__length, seq_target__item_row, seq_target__length")))).flat();
  });

  it("every sequence equals the brute-force history", () => {
    const maxlen = result.schema.sequences[0]!.maxlen;
    // (user, entity) → clicks sorted by time.
    const clicks = new Map<string, { t: number; item: number }[]>();
    for (const r of rows) {
      if (Number(r.label) !== 1) continue;
      const key = `${r.user_key}:${r.entity}`;
      if (!clicks.has(key)) clicks.set(key, []);
      clicks.get(key)!.push({ t: Number(r.t), item: Number(r.item_row) });
    }
    for (const list of clicks.values()) list.sort((a, b) => a.t - b.t);
    let checked = 0;
    let nonEmpty = 0;
    for (const r of rows) {
      for (const [entity, name] of [
        [0, "seq_source"],
        [1, "seq_target"],
      ] as const) {
        const t = Number(r.t);
        const before = (clicks.get(`${r.user_key}:${entity}`) ?? []).filter((c) => c.t < t).reverse();
        const expected = before.slice(0, maxlen);
        const actual = Array.from(r[`${name}__item_row`] as number[]).map(Number);
        expect(Number(r[`${name}__length`])).toBe(expected.length);
        expect(actual.slice(expected.length).every((x) => x === 0)).toBe(true);
        // Group by time: within a group of equal times order is free; across groups newest first.
        let k = 0;
        while (k < expected.length) {
          let end = k;
          while (end < expected.length && expected[end]!.t === expected[k]!.t) end++;
          const boundaryTie = end === expected.length && before.length > expected.length && before[expected.length]!.t === expected[k]!.t;
          const got = actual.slice(k, end).sort((a, b) => a - b);
          const want = expected.slice(k, end).map((c) => c.item).sort((a, b) => a - b);
          if (!boundaryTie) expect(got).toEqual(want);
          k = end;
        }
        checked++;
        if (expected.length) nonEmpty++;
      }
    }
    expect(checked).toBe(2 * rows.length);
    expect(nonEmpty).toBeGreaterThan(checked / 2);
  });
});
