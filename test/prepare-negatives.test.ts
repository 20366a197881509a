import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { summary } from "../src/cli/commands/prepare.ts";
import type { PrepareResult } from "../src/data/prepare/index.ts";
import type { SplitName } from "../src/data/schema.ts";
import { datasetSpecSchema } from "../src/spec/dataset.ts";
import { parseSpecText } from "../src/spec/load.ts";
import { positiveOnlyLog, positivesCsv, type LoggedPositive, type PositiveLog } from "./helpers/positive-log.ts";
import { prepareFixture, readParquetRows, tempDir } from "./helpers/prepared.ts";

/**
 * Logs of positives only (SPEC §1): the split is made on positives, then each positive gets k
 * negatives inside its own split, without replacement, never an item the user interacted with, from
 * the entity's items (uniformly, or weighted by training positives). Everything here is checked
 * against brute force over the generated log and the written files.
 */

const K = 4;

interface Row {
  split: SplitName;
  entity: number;
  label: number;
  user_key: number;
  t: number;
  item_row: number;
}

function specText(options: { split: string; strategy: "uniform" | "popularity"; time: boolean; seed?: number; tables?: string }): string {
  const time = options.time ? "    time_column: ts\n" : "";
  return `
name: positives
raw_dir: raw
tables:
${options.tables ?? "  src: { path: source.csv }\n  tgt: { path: target.csv }"}
entities:
  source:
    name: product
    table: src
${time}    negatives: { per_positive: ${K}, strategy: ${options.strategy} }
  target:
    name: content
    table: tgt
${time}    negatives: { per_positive: ${K}, strategy: ${options.strategy} }
sequence_maxlen: 4
split: ${options.split}
seed: ${options.seed ?? 3}
`;
}

async function prepareLog(log: PositiveLog, options: Parameters<typeof specText>[0]): Promise<PrepareResult> {
  return prepareFixture(await tempDir(), {
    "spec.yaml": specText(options),
    "raw/source.csv": positivesCsv(log.source, options.time),
    "raw/target.csv": positivesCsv(log.target, options.time),
  });
}

async function readRows(result: PrepareResult): Promise<Row[]> {
  const rows: Row[] = [];
  for (const [split, { file }] of Object.entries(result.schema.splits) as [SplitName, { file: string }][]) {
    for (const r of await readParquetRows(join(result.dir, file), "entity, label, user_key, t, item_row")) {
      rows.push({ split, entity: Number(r.entity), label: Number(r.label), user_key: Number(r.user_key), t: Number(r.t), item_row: Number(r.item_row) });
    }
  }
  return rows;
}

/** user_key and item_row are ranks of the raw ids in text order (all users; each entity's items). */
function ranks(values: string[]): Map<string, number> {
  return new Map([...new Set(values)].sort().map((v, i) => [v, i + 1]));
}

function byUser(rows: LoggedPositive[]): Map<string, LoggedPositive[]> {
  const map = new Map<string, LoggedPositive[]>();
  for (const r of rows) map.set(r.user, [...(map.get(r.user) ?? []), r]);
  return map;
}

/**
 * The rules every split rule must keep: a group (a positive and its negatives: same entity, user
 * and time) is one positive and exactly K negatives, all in one split, on K + 1 distinct items, none
 * of them an item the user interacted with; so every split's CTR is exactly 1/(1 + K).
 */
function expectExactGroups(rows: Row[], result: PrepareResult): void {
  const groups = new Map<string, Row[]>();
  for (const r of rows) {
    const key = `${r.entity}:${r.user_key}:${r.t}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const interacted = new Set(rows.filter((r) => r.label === 1).map((r) => `${r.entity}:${r.user_key}:${r.item_row}`));
  let cut = 0;
  let duplicates = 0;
  let onInteracted = 0;
  for (const group of groups.values()) {
    expect(group.filter((r) => r.label === 1).length).toBe(1);
    expect(group.length).toBe(1 + K);
    if (new Set(group.map((r) => r.split)).size > 1) cut++;
    duplicates += group.length - new Set(group.map((r) => r.item_row)).size;
    onInteracted += group.filter((r) => r.label === 0 && interacted.has(`${r.entity}:${r.user_key}:${r.item_row}`)).length;
  }
  expect({ cut, duplicates, onInteracted }).toEqual({ cut: 0, duplicates: 0, onInteracted: 0 });
  for (const [name, s] of Object.entries(result.stats.splits)) {
    const inSplit = rows.filter((r) => r.split === name);
    expect(s.rows, name).toBe(inSplit.length);
    expect(s.positives, name).toBe(inSplit.filter((r) => r.label === 1).length);
    expect(s.rows, name).toBe((1 + K) * s.positives);
    expect(s.ctr, name).toBe(1 / (1 + K));
    expect(s.groupsCut, name).toBe(0);
    expect(s.droppedPositives, name).toBe(0);
  }
  for (const entity of ["source", "target"] as const) {
    const n = result.stats.negatives[entity]!;
    expect(n).toMatchObject({ perPositive: K, groupsCut: 0, incompleteGroups: 0, duplicateNegatives: 0, negativesOnInteractedItems: 0, negativesOutsidePool: 0, droppedPositives: 0 });
    expect(n.groups).toBe(rows.filter((r) => r.entity === (entity === "source" ? 0 : 1) && r.label === 1).length);
  }
}

describe("a log of positives only, split by user order without a time column (popularity negatives)", () => {
  const log = positiveOnlyLog();
  let result: PrepareResult;
  let rows: Row[];
  beforeAll(async () => {
    result = await prepareLog(log, { split: "{ by: user_order, test_fraction: 0.2, valid_fraction: 0.1 }", strategy: "popularity", time: false });
    rows = await readRows(result);
  });

  it("keeps every positive with exactly its 4 distinct negatives in one split: CTR 20% in every split, 0 groups cut", () => {
    expect(rows.filter((r) => r.label === 1).length).toBe(log.source.length + log.target.length);
    expectExactGroups(rows, result);
    expect(Object.keys(result.stats.splits).sort()).toEqual(["source/test", "source/train", "target/test", "target/train", "target/valid"]);
  });

  it("holds out each user's last 20% / 10% of target positives (rounded), counting positives only", () => {
    const userKey = ranks([...log.source, ...log.target].map((r) => r.user));
    let heldOut = 0;
    for (const [user, positives] of byUser(log.target)) {
      const n = positives.length;
      const mine = rows.filter((r) => r.entity === 1 && r.label === 1 && r.user_key === userKey.get(user));
      const count = (split: string) => mine.filter((r) => r.split === split).length;
      expect([count("target/train"), count("target/valid"), count("target/test")], user).toEqual([
        n - Math.round(n * 0.2) - Math.round(n * 0.1),
        Math.round(n * 0.1),
        Math.round(n * 0.2),
      ]);
      // The held-out positives are the user's last ones in file order.
      const last = (split: string) => Math.max(-1, ...mine.filter((r) => r.split === split).map((r) => r.t));
      const first = (split: string) => Math.min(2, ...mine.filter((r) => r.split === split).map((r) => r.t));
      expect(last("target/train")).toBeLessThan(first("target/valid"));
      expect(Math.max(last("target/train"), last("target/valid"))).toBeLessThan(first("target/test"));
      heldOut += n - count("target/train");
    }
    expect(heldOut).toBeGreaterThan(0.2 * log.target.length);
  });

  it("reports the source positives kept out of training (at or after the user's first held-out target row), exactly", () => {
    const targets = byUser(log.target);
    let leftOut = 0;
    for (const [user, positives] of byUser(log.source)) {
      const n = targets.get(user)?.length ?? 0;
      const held = Math.round(n * 0.2) + Math.round(n * 0.1);
      if (held === 0) continue;
      // Without a time column, t is the relative position among the user's rows of that entity.
      const cutoff = (n - held + 1 - 0.5) / n;
      leftOut += positives.filter((_, j) => (j + 1 - 0.5) / positives.length >= cutoff).length;
    }
    expect(leftOut).toBeGreaterThan(0);
    expect(result.stats.leftOutOfTraining).toEqual([{ entity: "source", rows: leftOut, positives: leftOut, share: leftOut / log.source.length, reason: expect.stringContaining("first held-out target row") }]);
    expect(result.stats.splits["source/test"]!.positives).toBe(leftOut);
  });

  it("draws negatives by training-positive popularity only: never an item without training positives", () => {
    const target = rows.filter((r) => r.entity === 1);
    const trainCounts = new Map<number, number>();
    for (const r of target) if (r.label === 1 && r.split === "target/train") trainCounts.set(r.item_row, (trainCounts.get(r.item_row) ?? 0) + 1);
    const negatives = target.filter((r) => r.label === 0);
    expect(negatives.every((r) => trainCounts.has(r.item_row))).toBe(true);
    // The late items are clicked (in test) but never in train: popularity over the whole log would draw them.
    const itemRow = ranks(log.target.map((r) => r.item));
    const late = log.lateItems.map((item) => itemRow.get(item)!).filter((row) => row !== undefined);
    expect(late.length).toBe(log.lateItems.length);
    expect(target.some((r) => r.label === 1 && late.includes(r.item_row))).toBe(true);
    expect(negatives.some((r) => late.includes(r.item_row))).toBe(false);
    // The pool is exactly the items with training positives, weighted by their number.
    const trainPositives = [...trainCounts.values()].reduce((a, b) => a + b, 0);
    expect(result.stats.negatives.target).toMatchObject({ strategy: "popularity", poolItems: trainCounts.size, poolWeight: trainPositives });
    // And the draws follow those weights: negatives per item track training positives per item.
    const drawn = new Map<number, number>();
    for (const r of negatives) drawn.set(r.item_row, (drawn.get(r.item_row) ?? 0) + 1);
    const items = [...trainCounts.keys()];
    expect(correlation(items.map((i) => trainCounts.get(i)!), items.map((i) => drawn.get(i) ?? 0))).toBeGreaterThan(0.95);
  });

  it("prints the check in prepare's summary, with the features prepare makes itself", () => {
    const text = summary(result);
    expect(text).toContain("negatives (target): 4 per positive, sampled inside its split, without replacement, by popularity");
    expect(text).toMatch(/groups [\d,]+; cut across splits 0; incomplete 0; duplicate negatives 0; on items the user interacted with 0; outside the pool 0/);
    expect(text).toMatch(/not trained on: [\d,]+ source rows \([\d.]+% of its log; [\d,]+ positives\), at or after the user's first held-out target row/);
    expect(text).toContain("user__user_id (the user id, always a feature)");
    expect(text).toContain("target__item_id (the item id, always a feature)");
    expect(text.split("\n").find((l) => l.startsWith("target/valid"))).toMatch(/20\.00%\s+\d+\s+0\s+0$/);
  });

  it("is deterministic: the same spec and seed give the same files; another seed other negatives", async () => {
    const again = await prepareLog(log, { split: "{ by: user_order, test_fraction: 0.2, valid_fraction: 0.1 }", strategy: "popularity", time: false });
    expect(again.stats.fingerprint).toBe(result.stats.fingerprint);
    const reseeded = await prepareLog(log, { split: "{ by: user_order, test_fraction: 0.2, valid_fraction: 0.1 }", strategy: "popularity", time: false, seed: 4 });
    expect(reseeded.stats.fingerprint).not.toBe(result.stats.fingerprint);
    expectExactGroups(await readRows(reseeded), reseeded);
  });
});

describe("spec fields of logs of positives only", () => {
  it("defaults to the last target row → test and the one before → valid; needs at least one of each", () => {
    const parse = (split: string) => parseSpecText("d.yaml", specText({ split, strategy: "uniform", time: true }), datasetSpecSchema).split;
    expect(parse("{ by: user_last }")).toEqual({ by: "user_last", test: 1, valid: 1 });
    expect(parse("{ by: user_last, test: 2 }")).toEqual({ by: "user_last", test: 2, valid: 1 });
    expect(() => parse("{ by: user_last, valid: 0 }")).toThrow(/split\.valid/);
  });

  it("rejects negatives on a log with labels (its rows are not all positives)", () => {
    const text = specText({ split: "{ by: user_last }", strategy: "uniform", time: true }).replace("    negatives: { per_positive: 4, strategy: uniform }\nsequence", "    label: { column: click }\n    negatives: { per_positive: 4, strategy: uniform }\nsequence");
    expect(() => parseSpecText("d.yaml", text, datasetSpecSchema)).toThrow(/entities\.target\.negatives: only for a log of positives only/);
  });
});

describe("the other split rules keep groups whole as well", () => {
  const log = positiveOnlyLog({ seed: 5, users: 150 });

  it("user_last (leave-last-out, time column, uniform): each user's last target positive → test, the one before → valid", async () => {
    const result = await prepareLog(log, { split: "{ by: user_last, test: 1, valid: 1 }", strategy: "uniform", time: true });
    const rows = await readRows(result);
    expectExactGroups(rows, result);
    const userKey = ranks([...log.source, ...log.target].map((r) => r.user));
    for (const [user, positives] of byUser(log.target)) {
      const times = positives.map((p) => p.ts).sort((a, b) => a - b);
      const mine = rows.filter((r) => r.entity === 1 && r.label === 1 && r.user_key === userKey.get(user));
      const timesIn = (split: string) => mine.filter((r) => r.split === split).map((r) => r.t);
      expect(timesIn("target/test"), user).toEqual(times.slice(-1));
      expect(timesIn("target/valid"), user).toEqual(times.length >= 2 ? [times.at(-2)] : []);
      expect(timesIn("target/train").sort((a, b) => a - b), user).toEqual(times.slice(0, -2));
    }
    // Source rows at or after the user's first held-out target time are not trained on.
    const firstHeld = new Map([...byUser(log.target)].map(([user, p]) => [user, p.map((x) => x.ts).sort((a, b) => a - b).at(p.length >= 2 ? -2 : -1)!]));
    const leftOut = log.source.filter((r) => firstHeld.has(r.user) && r.ts >= firstHeld.get(r.user)!).length;
    expect(result.stats.leftOutOfTraining[0]).toMatchObject({ rows: leftOut, reason: expect.stringContaining("(by time)") });
    expect(result.schema.split.by).toBe("user_last");
    // Uniform negatives come from every item of the entity's log, the late (test-only) items included.
    const itemRow = ranks(log.target.map((r) => r.item));
    const late = new Set(log.lateItems.map((item) => itemRow.get(item)));
    expect(rows.some((r) => r.entity === 1 && r.label === 0 && late.has(r.item_row))).toBe(true);
    expect(result.stats.negatives.target).toMatchObject({ strategy: "uniform", poolItems: itemRow.size, poolWeight: itemRow.size });
  });

  it("time slices", async () => {
    const result = await prepareLog(log, { split: "{ by: time, slice_seconds: 300 }", strategy: "popularity", time: true });
    const rows = await readRows(result);
    expectExactGroups(rows, result);
    expect(result.stats.splits["target/test"]!.positives).toBeGreaterThan(0);
    expect(result.stats.leftOutOfTraining[0]!.reason).toContain("time slices");
  });
});

describe("groups that cannot be filled and groups that are hard to fill", () => {
  /**
   * Target catalog of 10 items: t1–t6 clicked by 40 background users each (heavy), t7–t10 once each
   * in train (light). The background users and "hard" clicked t1–t6: only t7–t10 are left, about 2%
   * of the popularity weight, so rejection draws rarely hit them and the exact completion must give
   * exactly those 4. User "full" clicked t1–t7: 3 items left, fewer than 4: their positives are
   * dropped and counted.
   */
  function files(): Record<string, string> {
    const target: string[] = ["user_id,item_id,ts"];
    const source: string[] = ["user_id,item_id,ts"];
    let ts = 0;
    for (let b = 0; b < 40; b++) {
      // Source clicks first: they stay in train (before the user's held-out target rows).
      source.push(`b${b},s${b % 9},${(ts += 1)}`, `b${b},s${(b + 4) % 9},${(ts += 1)}`);
      for (let i = 0; i < 6; i++) target.push(`b${b},t${((b + i) % 6) + 1},${(ts += 1)}`);
    }
    // A light item first (train), then two heavy ones (valid, test).
    for (let i = 7; i <= 10; i++) target.push(`light${i},t${i},${(ts += 1)}`, `light${i},t1,${(ts += 1)}`, `light${i},t2,${(ts += 1)}`);
    for (let i = 1; i <= 6; i++) target.push(`hard,t${i},${(ts += 1)}`);
    for (let i = 1; i <= 7; i++) target.push(`full,t${i},${(ts += 1)}`);
    return {
      "spec.yaml": specText({ split: "{ by: user_last, test: 1, valid: 1 }", strategy: "popularity", time: true }),
      "raw/source.csv": source.join("\n") + "\n",
      "raw/target.csv": target.join("\n") + "\n",
    };
  }

  it("fills a hard group exactly, drops the user with too few candidates, and reports it", async () => {
    const result = await prepareFixture(await tempDir(), files());
    const rows = await readRows(result);
    const target = rows.filter((r) => r.entity === 1);
    const itemRow = ranks(["t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9", "t10"]);
    // "full" has no rows left (no source rows either), so no user key.
    const userKey = ranks([...Array.from({ length: 40 }, (_, b) => `b${b}`), "light7", "light8", "light9", "light10", "hard"]);
    expect(result.stats.users.total).toBe(userKey.size);
    const hard = target.filter((r) => r.user_key === userKey.get("hard"));
    expect(hard.filter((r) => r.label === 1).length).toBe(6);
    for (const t of new Set(hard.map((r) => r.t))) {
      const negatives = hard.filter((r) => r.t === t && r.label === 0).map((r) => r.item_row);
      expect(negatives.sort((a, b) => a - b)).toEqual(["t7", "t8", "t9", "t10"].map((i) => itemRow.get(i)!).sort((a, b) => a - b));
    }
    // "full" is gone: 7 positives, 1 → test, 1 → valid, 5 → train.
    expect(result.stats.negatives.target).toMatchObject({ droppedUsers: 1, droppedPositives: 7, incompleteGroups: 0, duplicateNegatives: 0, negativesOnInteractedItems: 0 });
    expect(result.stats.splits["target/train"]!.droppedPositives).toBe(5);
    expect(result.stats.splits["target/valid"]!.droppedPositives).toBe(1);
    expect(result.stats.splits["target/test"]!.droppedPositives).toBe(1);
    for (const name of ["target/train", "target/valid", "target/test"] as const) expect(result.stats.splits[name]!.ctr).toBe(1 / (1 + K));
    expect(summary(result)).toContain("positives dropped 7 (1 users with fewer than 4 items left to draw from)");
  });
});

describe("weighted draws without replacement where few candidates are left", () => {
  /**
   * Users who clicked only the heavy items h1–h5 (about 99% of the popularity weight) have the light
   * items l1–l6 left, with training positives 1, 1, 1, 1, 1 and 5: most of their draws miss, so the
   * exact completion does most of the work. With one negative per positive, l6 must be drawn for half
   * of their positives (5 of a weight of 10), as successive weighted sampling does.
   */
  it("draws the candidates in proportion to their training positives", async () => {
    const target = ["user_id,item_id,ts"];
    let ts = 0;
    for (let b = 0; b < 40; b++) for (let r = 0; r < 25; r++) target.push(`b${String(b).padStart(2, "0")},h${(r % 5) + 1},${(ts += 1)}`);
    // Light items: a light user's first click (train), then two heavy ones (valid, test).
    const light = ["l1", "l2", "l3", "l4", "l5", ...Array(5).fill("l6")];
    light.forEach((item, i) => target.push(`light${i},${item},${(ts += 1)}`, `light${i},h1,${(ts += 1)}`, `light${i},h2,${(ts += 1)}`));
    const source = ["user_id,item_id,ts,click", ...Array.from({ length: 40 }, (_, b) => `b${String(b).padStart(2, "0")},s${b % 3},0,${b % 2}`)];
    const spec = `
name: weighted
raw_dir: raw
tables:
  src: { path: source.csv }
  tgt: { path: target.csv }
entities:
  source: { name: product, table: src, time_column: ts, label: { column: click } }
  target: { name: content, table: tgt, time_column: ts, negatives: { per_positive: 1, strategy: popularity } }
split: { by: user_last, test: 1, valid: 1 }
`;
    const result = await prepareFixture(await tempDir(), { "spec.yaml": spec, "raw/source.csv": source.join("\n") + "\n", "raw/target.csv": target.join("\n") + "\n" });
    const rows = (await readRows(result)).filter((r) => r.entity === 1);
    const itemRow = ranks(["h1", "h2", "h3", "h4", "h5", "l1", "l2", "l3", "l4", "l5", "l6"]);
    const background = new Set(Array.from({ length: 40 }, (_, b) => ranks([...Array.from({ length: 40 }, (_, i) => `b${String(i).padStart(2, "0")}`), ...light.map((_, i) => `light${i}`)]).get(`b${String(b).padStart(2, "0")}`)!));
    const drawn = rows.filter((r) => r.label === 0 && background.has(r.user_key)).map((r) => r.item_row);
    expect(drawn.length).toBe(40 * 25);
    const lightRows = new Set(["l1", "l2", "l3", "l4", "l5", "l6"].map((i) => itemRow.get(i)!));
    expect(drawn.every((row) => lightRows.has(row))).toBe(true);
    const share = drawn.filter((row) => row === itemRow.get("l6")).length / drawn.length;
    // 1,000 draws: the standard error of a share of 0.5 is 0.016.
    expect(share).toBeGreaterThan(0.45);
    expect(share).toBeLessThan(0.55);
    expect(result.stats.negatives.target).toMatchObject({ poolItems: 11, incompleteGroups: 0, duplicateNegatives: 0, negativesOnInteractedItems: 0 });
  });
});

function correlation(x: number[], y: number[]): number {
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const mx = mean(x);
  const my = mean(y);
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < x.length; i++) {
    sxy += (x[i]! - mx) * (y[i]! - my);
    sxx += (x[i]! - mx) ** 2;
    syy += (y[i]! - my) ** 2;
  }
  return sxy / Math.sqrt(sxx * syy);
}
