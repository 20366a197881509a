import * as tf from "@tensorflow/tfjs";
import { afterAll, describe, expect, it } from "vitest";
import type { Batch } from "../../src/data/batch.ts";
import { selectBackend } from "../../src/engine/backend.ts";
import { batchToTensors, disposeBatchTensors, type BatchTensors } from "../../src/models/inputs.ts";
import { mulberry32 } from "../../src/util/random.ts";

/**
 * batchToTensors against its definition, written out row by row: source rows first, each column
 * in that order, masks 1 exactly on a row's first `length` elements. On wasm the tensors are
 * written in place in the heap: the heap is first filled with garbage where they will land, so a
 * value left unwritten shows.
 */

const L = 5;

function makeBatch(entities: number[], seed: number): Batch {
  const n = entities.length;
  const uniform = mulberry32(seed);
  const int = (max: number) => Math.floor(uniform() * max);
  const lengths = Int32Array.from({ length: n }, () => int(L + 1));
  const ids = (base: number) => {
    const a = new Int32Array(n * L);
    for (let i = 0; i < n; i++) for (let j = 0; j < lengths[i]!; j++) a[i * L + j] = base + int(50) + 1;
    return a;
  };
  return {
    size: n,
    entity: Uint8Array.from(entities),
    label: Float32Array.from({ length: n }, () => int(2)),
    userKey: Int32Array.from({ length: n }, (_, i) => 100 + i),
    userClicks: Int32Array.from({ length: n }, () => int(9)),
    slice: new Int32Array(n),
    features: { user__age: Int32Array.from({ length: n }, () => int(7)), shared__category: Int32Array.from({ length: n }, () => int(30)) },
    sequences: { seq_target: { maxlen: L, length: lengths, ids: { item_id: ids(0), category: ids(1000) } } },
  };
}

function expected(batch: Batch) {
  const order = [...Array(batch.size).keys()].sort((a, b) => batch.entity[a]! - batch.entity[b]! || a - b);
  const seq = batch.sequences["seq_target"]!;
  return {
    order,
    isTarget: order.map((i) => batch.entity[i]!),
    label: order.map((i) => batch.label[i]!),
    features: Object.fromEntries(Object.entries(batch.features).map(([k, v]) => [k, order.map((i) => v[i]!)])),
    mask: order.flatMap((i) => Array.from({ length: L }, (_, j) => (j < seq.length[i]! ? 1 : 0))),
    ids: Object.fromEntries(Object.entries(seq.ids).map(([k, v]) => [k, order.flatMap((i) => [...v.subarray(i * L, i * L + L)])])),
  };
}

function actual(t: BatchTensors) {
  const seq = t.sequences["seq_target"]!;
  return {
    order: [...t.order],
    isTarget: [...t.isTarget.dataSync()],
    label: [...t.label.dataSync()],
    features: Object.fromEntries(Object.entries(t.features).map(([k, v]) => [k, [...v.dataSync()]])),
    mask: [...seq.mask.dataSync()],
    ids: Object.fromEntries(Object.entries(seq.ids).map(([k, v]) => [k, [...v.dataSync()]])),
  };
}

describe.each(["wasm", "cpu"] as const)("batchToTensors on %s", (backend) => {
  afterAll(() => tf.setBackend("wasm"));

  it.each([
    ["mixed entities", [1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 1]],
    ["target rows only", [1, 1, 1, 1, 1, 1, 1]],
    ["source rows only", [0, 0, 0, 0]],
  ])("%s: rows source first, every value as defined, nothing left over", async (_, entities) => {
    await selectBackend(backend);
    const batch = makeBatch(entities, entities.length);
    // Garbage where the tensors will be allocated (freed memory is reused), so unwritten values show.
    for (let k = 0; k < 3; k++) tf.dispose(tf.fill([entities.length * L * 8], -7, "int32"));
    const before = tf.memory().numTensors;
    const t = batchToTensors(batch);
    expect(actual(t)).toEqual(expected(batch));
    expect(t.counts).toEqual({ source: entities.filter((e) => e === 0).length, target: entities.filter((e) => e === 1).length });
    expect(t.sequences["seq_target"]!.ids["item_id"]!.shape).toEqual([entities.length, L]);
    expect(t.sequences["seq_target"]!.ids["item_id"]!.dtype).toBe("int32");
    expect(t.sequences["seq_target"]!.mask.dtype).toBe("float32");
    disposeBatchTensors(t);
    expect(tf.memory().numTensors).toBe(before);
  });

  it("copies the batch: later changes to its arrays do not reach the tensors (the reader reuses them)", async () => {
    await selectBackend(backend);
    const batch = makeBatch([1, 1, 0, 1], 3);
    const want = expected(batch);
    const t = batchToTensors(batch);
    batch.features["user__age"]!.fill(99);
    batch.sequences["seq_target"]!.ids["item_id"]!.fill(99);
    batch.label.fill(7);
    expect(actual(t)).toEqual(want);
    disposeBatchTensors(t);
  });
});
