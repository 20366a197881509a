import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../src/engine/backend.ts";
import { randomData, size, useMode, type Mode } from "./helpers/kernel-modes.ts";
import { activeKernelOverrides, applyKernelOverrides, removeKernelOverrides } from "../src/engine/kernels/registry.ts";

/**
 * The wasm data-movement overrides (GatherV2, Concat, Pack, Unpack, SplitV) against the unpatched
 * wasm kernels and the cpu backend. These kernels only move data, so every comparison is exact:
 * float32 values are compared by bit pattern.
 */




type Dtype = "float32" | "int32" | "bool";
type Values = Float32Array | Int32Array | boolean[];

/** Seeded values of a dtype: floats in [-1, 1), ints in [-1000, 1000), booleans. */
function values(shape: number[], dtype: Dtype, seed: number): Values {
  const r = randomData(size(shape), seed);
  if (dtype === "float32") return r;
  if (dtype === "int32") return Int32Array.from(r, (v) => Math.floor(v * 1000));
  return Array.from(r, (v) => v > 0);
}

/** Seeded indices in [0, rows) that include 0, rows − 1 and a repeated value (when there is room). */
function indexData(count: number, rows: number, seed: number): Int32Array {
  const idx = Int32Array.from(randomData(count, seed), (v) => Math.min(rows - 1, Math.floor(((v + 1) / 2) * rows)));
  if (count >= 1) idx[0] = 0;
  if (count >= 2) idx[count - 1] = rows - 1;
  if (count >= 4) idx[2] = idx[1]!;
  return idx;
}

/** An input spec, materialized afresh in every mode. */
interface Input {
  shape: number[];
  dtype: Dtype;
  data: Values;
}
const input = (shape: number[], dtype: Dtype = "float32", seed = 1): Input => ({ shape, dtype, data: values(shape, dtype, seed) });
const make = (i: Input): tf.Tensor => tf.tensor(i.data, i.shape, i.dtype);

const MODES: readonly Mode[] = ["cpu", "wasm-original", "wasm-override"];


const COPY_KERNELS = [tf.GatherV2, tf.Concat, tf.Pack, tf.Unpack, tf.SplitV, tf.Slice, tf.Transpose] as const;
type CopyKernel = (typeof COPY_KERNELS)[number];

/**
 * Runs `fn` with the overrides applied on top of counting wrappers of the original wasm kernels, so
 * the counts say how often an override fell back to the original (or the original ran at all).
 */
function countOriginalCalls<T>(fn: () => T): { result: T; calls: Record<CopyKernel, number> } {
  removeKernelOverrides();
  const originals = COPY_KERNELS.map((k) => tf.getKernel(k, "wasm")!);
  const calls = Object.fromEntries(COPY_KERNELS.map((k) => [k, 0])) as Record<CopyKernel, number>;
  for (const o of originals) {
    tf.unregisterKernel(o.kernelName, "wasm");
    tf.registerKernel({ ...o, kernelFunc: (args) => (calls[o.kernelName as CopyKernel]++, o.kernelFunc(args)) });
  }
  applyKernelOverrides("wasm");
  try {
    return { result: fn(), calls };
  } finally {
    removeKernelOverrides();
    for (const o of originals) {
      tf.unregisterKernel(o.kernelName, "wasm");
      tf.registerKernel(o);
    }
    applyKernelOverrides("wasm");
  }
}

interface Snapshot {
  shape: number[];
  dtype: string;
  /** float32 as bit patterns: exact, and NaN/−0 safe. */
  bits: number[];
}

async function snapshot(t: tf.Tensor): Promise<Snapshot> {
  const data = await t.data();
  const bits =
    data instanceof Float32Array ? Array.from(new Int32Array(data.buffer, data.byteOffset, data.length)) : Array.from(data as ArrayLike<number>);
  return { shape: t.shape, dtype: t.dtype, bits };
}

const numDataIds = () => tf.engine().backend.numDataIds();

/**
 * Runs `build` (inside tf.tidy) in every mode; checks that no mode leaks tensors or data ids, that
 * the override result is bit-identical to the cpu backend's and to the original wasm kernel's (or,
 * with `originalWrong`, that the original differs from cpu), and returns the calls of the original
 * wasm kernels made in override mode.
 */
async function compareModes(
  build: () => tf.Tensor | tf.Tensor[],
  options: { originalWrong?: boolean } = {},
): Promise<{ calls: Record<CopyKernel, number>; out: Snapshot[] }> {
  const results: Partial<Record<Mode, Snapshot[]>> = {};
  let calls: Record<CopyKernel, number> | undefined;
  for (const mode of MODES) {
    await useMode(mode);
    const tensorsBefore = tf.memory().numTensors;
    const idsBefore = numDataIds();
    const run = () => {
      const r = tf.tidy(build);
      return Array.isArray(r) ? r : [r];
    };
    let outs: tf.Tensor[];
    if (mode === "wasm-override") ({ result: outs, calls } = countOriginalCalls(run));
    else outs = run();
    results[mode] = await Promise.all(outs.map(snapshot));
    tf.dispose(outs);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(numDataIds()).toBe(idsBefore);
  }
  expect(results["wasm-override"]).toEqual(results.cpu);
  // originalWrong documents a tfjs-backend-wasm bug the override fixes: flips when tfjs fixes it.
  if (options.originalWrong) expect(results["wasm-original"]).not.toEqual(results.cpu);
  else expect(results["wasm-override"]).toEqual(results["wasm-original"]);
  return { calls: calls!, out: results["wasm-override"]! };
}

/** Asserts the override handled the op itself (no original call) or fell back (exactly one). */
function expectHandled(calls: Record<CopyKernel, number>, kernel: CopyKernel, fallback: boolean): void {
  expect(calls[kernel]).toBe(fallback ? 1 : 0);
}

beforeAll(async () => {
  await selectBackend("wasm");
  await tf.ready();
  await tf.setBackend("cpu"); // initializes cpu up front (its banner, kernels) so the modes only switch
  (tf.backend() as { firstUse?: boolean }).firstUse = false;
  await tf.setBackend("wasm");
  tf.env().set("IS_TEST", true); // makes the engine throw on data ids leaked by a kernel
});

afterAll(async () => {
  await tf.setBackend("wasm");
  applyKernelOverrides("wasm"); // leave the state selectBackend("wasm") establishes
});

describe("wasm copy-kernel override registration", () => {
  it("selectBackend('wasm') activates the copy overrides", async () => {
    removeKernelOverrides();
    expect(activeKernelOverrides("wasm")).toEqual([]);
    const info = await selectBackend("wasm");
    const names = ["wasm:GatherV2/js-rows", "wasm:Concat/js-runs", "wasm:Pack/js-runs", "wasm:Unpack/js-runs", "wasm:SplitV/js-runs", "wasm:Slice/js-runs", "wasm:Identity/shared-data", "wasm:Cast/same-dtype-shared"];
    expect(activeKernelOverrides("wasm")).toEqual(expect.arrayContaining(names));
    expect(info.kernelOverrides).toEqual(expect.arrayContaining(names));
    for (const k of COPY_KERNELS) expect(tf.getKernel(k, "wasm")?.kernelFunc).toBeDefined();
  });
});

describe("wasm GatherV2 override", () => {
  const cases: {
    label: string;
    table: Input;
    indices: { shape: number[]; seed: number };
    axis?: number;
    batchDims?: number;
    fallback?: boolean;
    /** tfjs-backend-wasm 4.22 reads batch b's indices at b·batchSize instead of b·(indices per batch). */
    originalWrong?: boolean;
  }[] = [
    { label: "float32 rank-1 table", table: input([40], "float32", 11), indices: { shape: [25], seed: 1 } },
    { label: "float32 rank-2 table, rows of 8", table: input([50, 8], "float32", 12), indices: { shape: [30], seed: 2 } },
    { label: "float32 rank-2 table, rows of 63", table: input([20, 63], "float32", 13), indices: { shape: [17], seed: 3 } },
    { label: "float32 rank-2 table, rows of 64", table: input([20, 64], "float32", 14), indices: { shape: [17], seed: 4 } },
    { label: "float32 rank-2 table, rows of 100", table: input([30, 100], "float32", 15), indices: { shape: [21], seed: 5 } },
    { label: "float32 rank-3 table, rows of 5×7", table: input([12, 5, 7], "float32", 16), indices: { shape: [9], seed: 6 } },
    { label: "float32 rank-3 table, rows of 9×8", table: input([12, 9, 8], "float32", 17), indices: { shape: [9], seed: 7 } },
    { label: "float32 rank-2 table, rank-2 indices", table: input([40, 12], "float32", 18), indices: { shape: [4, 6], seed: 8 } },
    { label: "float32 rank-3 table, rank-2 indices, rows ≥ 64", table: input([15, 4, 20], "float32", 19), indices: { shape: [3, 5], seed: 9 } },
    { label: "int32 rank-1 table", table: input([33], "int32", 20), indices: { shape: [10], seed: 10 } },
    { label: "int32 rank-2 table, rows of 16", table: input([30, 16], "int32", 21), indices: { shape: [19], seed: 11 } },
    { label: "int32 rank-2 table, rows of 70", table: input([30, 70], "int32", 22), indices: { shape: [2, 7], seed: 12 } },
    { label: "int32 rank-3 table", table: input([10, 3, 5], "int32", 23), indices: { shape: [8], seed: 13 } },
    { label: "bool rank-2 table", table: input([10, 6], "bool", 24), indices: { shape: [7], seed: 14 } },
    // 256+ elements in rows under 64: copy-simd.wat's gatherRows.
    { label: "embedding lookup in SIMD, rows of 8", table: input([500, 8], "float32", 40), indices: { shape: [300], seed: 40 } },
    { label: "embedding lookup in SIMD, rank-2 indices, rows of 13", table: input([60, 13], "float32", 41), indices: { shape: [20, 30], seed: 41 } },
    { label: "lookup in SIMD, int32 rows of 3", table: input([100, 3], "int32", 42), indices: { shape: [200], seed: 42 } },
    { label: "lookup in SIMD, bool rows of 5", table: input([50, 5], "bool", 43), indices: { shape: [120], seed: 43 } },
    { label: "single row table", table: input([1, 9], "float32", 25), indices: { shape: [4], seed: 15 } },
    { label: "scalar index", table: input([10, 6], "float32", 26), indices: { shape: [], seed: 16 } },
    { label: "empty indices", table: input([10, 6], "float32", 27), indices: { shape: [0], seed: 17 } },
    { label: "empty rank-2 indices, rows ≥ 64", table: input([10, 80], "int32", 28), indices: { shape: [2, 0], seed: 18 } },
    { label: "axis −rank (= 0)", table: input([25, 11], "float32", 29), indices: { shape: [13], seed: 19 }, axis: -2 },
    { label: "axis 1 (falls back)", table: input([6, 25, 3], "float32", 30), indices: { shape: [10], seed: 20 }, axis: 1, fallback: true },
    { label: "axis −1 (falls back)", table: input([6, 25], "int32", 31), indices: { shape: [2, 5], seed: 21 }, axis: -1, fallback: true },
    { label: "axis 2 of a rank-3 table (falls back)", table: input([4, 3, 12], "float32", 36), indices: { shape: [7], seed: 23 }, axis: 2, fallback: true },
    // batchDims: handled by the override, because the original is wrong unless (indices per batch) = batch size.
    { label: "batchDims 1, 5 indices per batch of 3", table: input([3, 10, 4], "float32", 32), indices: { shape: [3, 5], seed: 22 }, axis: 1, batchDims: 1, originalWrong: true },
    { label: "batchDims 1, 3 indices per batch of 3", table: input([3, 10, 4], "float32", 37), indices: { shape: [3, 3], seed: 24 }, axis: 1, batchDims: 1 },
    { label: "batchDims 1, rows ≥ 64", table: input([2, 7, 70], "int32", 38), indices: { shape: [2, 3], seed: 25 }, axis: 1, batchDims: 1, originalWrong: true },
    { label: "batchDims 1 with outer dims", table: input([2, 3, 6, 2], "float32", 39), indices: { shape: [2, 4], seed: 26 }, axis: 2, batchDims: 1, originalWrong: true },
    { label: "batchDims 2, rank-3 indices", table: input([2, 3, 5, 4], "float32", 40), indices: { shape: [2, 3, 2, 2], seed: 27 }, axis: 2, batchDims: 2, originalWrong: true },
    { label: "batchDims −1", table: input([2, 5], "int32", 41), indices: { shape: [2, 2], seed: 28 }, axis: 1, batchDims: -1 },
  ];

  for (const c of cases) {
    it(`${c.label}: override = original = cpu, bit for bit`, async () => {
      const axis = c.axis ?? 0;
      const rank = c.table.shape.length;
      const rows = c.table.shape[axis < 0 ? axis + rank : axis]!;
      const idx = indexData(size(c.indices.shape), rows, c.indices.seed);
      const { calls, out } = await compareModes(
        () => tf.gather(make(c.table), tf.tensor(idx, c.indices.shape, "int32"), c.axis, c.batchDims),
        { originalWrong: c.originalWrong ?? false },
      );
      expectHandled(calls, tf.GatherV2, c.fallback ?? false);
      if (axis === 0 && c.batchDims === undefined) expect(out[0]!.shape).toEqual([...c.indices.shape, ...c.table.shape.slice(1)]);
    });
  }

  it("an output larger than the heap (memory grows inside the kernel): override = original = expected rows", async () => {
    const heapBytes = () => (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.buffer.byteLength;
    const rows = 500;
    const row = 96;
    const table = randomData(rows * row, 33);
    await useMode("wasm-override");
    const before = heapBytes();
    // An output larger than the whole current heap forces a memory.grow inside makeOutput, which
    // detaches every heap view taken before it. The override runs first so that it is the one growing.
    // (cpu is left out here: its gather takes seconds on millions of elements; the expected
    // rows are copied in plain JS instead.)
    const idx = indexData(Math.ceil(before / (4 * row)) + 16, rows, 34);
    const expected = new Float32Array(idx.length * row);
    idx.forEach((j, i) => expected.set(table.subarray(j * row, (j + 1) * row), i * row));
    const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    for (const mode of ["wasm-override", "wasm-original"] as const) {
      await useMode(mode);
      const tensorsBefore = tf.memory().numTensors;
      const run = () => tf.tidy(() => tf.gather(tf.tensor2d(table, [rows, row]), tf.tensor1d(idx, "int32")));
      const out = mode === "wasm-override" ? countOriginalCalls(run) : { result: run(), calls: undefined };
      if (out.calls) expectHandled(out.calls, tf.GatherV2, false);
      if (mode === "wasm-override") expect(heapBytes()).toBeGreaterThan(before);
      expect(out.result.shape).toEqual([idx.length, row]);
      const data = (await out.result.data()) as Float32Array;
      expect(bytes(data).equals(bytes(expected))).toBe(true);
      out.result.dispose();
      expect(tf.memory().numTensors).toBe(tensorsBefore);
    }
  });

  const badCases = [
    { label: "index = rows", value: 40 },
    { label: "negative index", value: -1 },
    { label: "far out of range", value: 123456 },
    { label: "index = rows, with batchDims", value: 10, batchDims: true },
  ];
  for (const bad of badCases) {
    it(`an out-of-range index (${bad.label}) throws like the original and leaks nothing`, async () => {
      const messages: Partial<Record<Mode, string>> = {};
      const rows = bad.batchDims ? 10 : 40;
      for (const mode of MODES) {
        await useMode(mode);
        const x = bad.batchDims ? tf.tensor3d(randomData(2 * 10 * 3, 35), [2, 10, 3]) : tf.tensor2d(randomData(40 * 12, 35), [40, 12]);
        const idx = bad.batchDims
          ? tf.tensor2d([3, 0, 9, 1, 2, bad.value], [2, 3], "int32")
          : tf.tensor1d([3, 0, 39, bad.value, 5], "int32");
        const tensorsBefore = tf.memory().numTensors;
        const idsBefore = numDataIds();
        let message = "";
        const attempt = () => {
          try {
            if (bad.batchDims) tf.gather(x, idx, 1, 1);
            else tf.gather(x, idx);
          } catch (err) {
            message = (err as Error).message;
          }
        };
        if (mode === "wasm-override") expectHandled(countOriginalCalls(attempt).calls, tf.GatherV2, false);
        else attempt();
        expect(message).toContain(String(bad.value));
        expect(tf.memory().numTensors).toBe(tensorsBefore);
        expect(numDataIds()).toBe(idsBefore);
        messages[mode] = message;
        tf.dispose([x, idx]);
      }
      expect(messages["wasm-override"]).toBe(messages["wasm-original"]);
      expect(messages["wasm-override"]).toBe(messages.cpu);
      expect(messages["wasm-override"]).toBe(`GatherV2: the index value ${bad.value} is not in [0, ${rows - 1}]`);
    });
  }
});

describe("wasm Concat override", () => {
  const cases: { label: string; inputs: Input[]; axis: number; fallback?: boolean; noKernel?: boolean }[] = [
    { label: "2 rank-2 inputs, axis 0", inputs: [input([3, 5], "float32", 1), input([4, 5], "float32", 2)], axis: 0 },
    { label: "2 rank-1 inputs, axis 0", inputs: [input([7], "float32", 3), input([70], "float32", 4)], axis: 0 },
    { label: "3 inputs, axis 1, narrow", inputs: [input([4, 3], "float32", 5), input([4, 10], "float32", 6), input([4, 1], "float32", 7)], axis: 1 },
    { label: "2 inputs, axis 1, wide (≥ 64)", inputs: [input([3, 70], "float32", 8), input([3, 64], "float32", 9)], axis: 1 },
    { label: "2 inputs, axis 1, one narrow one wide", inputs: [input([5, 63], "float32", 10), input([5, 65], "float32", 11)], axis: 1 },
    {
      label: "4 rank-3 inputs, last axis",
      inputs: [input([2, 3, 4], "float32", 12), input([2, 3, 5], "float32", 13), input([2, 3, 6], "float32", 14), input([2, 3, 1], "float32", 15)],
      axis: 2,
    },
    { label: "rank-3, axis −1, wide", inputs: [input([2, 2, 80], "float32", 16), input([2, 2, 64], "float32", 17)], axis: -1 },
    { label: "rank-3, axis −2", inputs: [input([2, 3, 4], "float32", 18), input([2, 5, 4], "float32", 19)], axis: -2 },
    { label: "rank-3, middle axis, wide inner runs", inputs: [input([2, 3, 30], "float32", 20), input([2, 4, 30], "float32", 21)], axis: 1 },
    { label: "rank-3, axis 0", inputs: [input([1, 3, 4], "float32", 22), input([2, 3, 4], "float32", 23), input([3, 3, 4], "float32", 24)], axis: 0 },
    {
      label: "one input with a 0-sized concat axis (3 inputs)",
      inputs: [input([3, 0, 4], "float32", 25), input([3, 2, 4], "float32", 26), input([3, 5, 4], "float32", 27)],
      axis: 1,
    },
    {
      label: "one input with a 0-sized concat axis (2 inputs, falls back)",
      inputs: [input([3, 4], "float32", 28), input([3, 0], "float32", 29)],
      axis: 1,
      fallback: true,
    },
    { label: "int32, axis 1", inputs: [input([6, 9], "int32", 30), input([6, 2], "int32", 31), input([6, 66], "int32", 32)], axis: 1 },
    { label: "int32, axis 0", inputs: [input([2, 9], "int32", 33), input([5, 9], "int32", 34)], axis: 0 },
    { label: "bool, axis −1", inputs: [input([4, 3], "bool", 35), input([4, 7], "bool", 36)], axis: -1 },
    { label: "bool, axis 0", inputs: [input([2, 3], "bool", 37), input([1, 3], "bool", 38), input([3, 3], "bool", 39)], axis: 0 },
    { label: "a single input (no kernel call)", inputs: [input([4, 6], "float32", 40)], axis: 1, noKernel: true },
    // 256+ elements in short runs: copied by copy-simd.wat (16-, 4- and 1-byte steps).
    { label: "short runs in SIMD, float32, axis 1", inputs: [input([100, 3], "float32", 41), input([100, 13], "float32", 42)], axis: 1 },
    { label: "short runs in SIMD, bool, axis −1", inputs: [input([90, 3], "bool", 43), input([90, 21], "bool", 44)], axis: -1 },
    { label: "short runs in SIMD, int32, rank 3", inputs: [input([40, 5, 2], "int32", 45), input([40, 5, 7], "int32", 46)], axis: 2 },
    // 16+ runs of 64+ elements: copied by copy-simd.wat too.
    { label: "many long runs in SIMD, float32, axis 1", inputs: [input([40, 70], "float32", 47), input([40, 168], "float32", 48)], axis: 1 },
    { label: "many long runs in SIMD, bool, axis −1", inputs: [input([16, 65], "bool", 49), input([16, 99], "bool", 50)], axis: -1 },
  ];

  for (const c of cases) {
    it(`${c.label}: override = original = cpu, bit for bit`, async () => {
      const { calls, out } = await compareModes(() => tf.concat(c.inputs.map(make), c.axis));
      if (c.noKernel) expect(calls[tf.Concat]).toBe(0);
      else expectHandled(calls, tf.Concat, c.fallback ?? false);
      const rank = c.inputs[0]!.shape.length;
      const axis = c.axis < 0 ? c.axis + rank : c.axis;
      const expected = [...c.inputs[0]!.shape];
      expected[axis] = c.inputs.reduce((s, i) => s + i.shape[axis]!, 0);
      expect(out[0]!.shape).toEqual(expected);
    });
  }
});

describe("wasm Pack override", () => {
  const five = (shape: number[], dtype: Dtype = "float32") => [1, 2, 3, 4, 5].map((s) => input(shape, dtype, 40 + s));
  const cases: { label: string; inputs: Input[]; axis: number; fallback?: boolean }[] = [
    { label: "2 inputs, axis 0", inputs: [input([3, 4], "float32", 1), input([3, 4], "float32", 2)], axis: 0 },
    { label: "5 inputs, axis 0", inputs: five([3, 4]), axis: 0 },
    { label: "2 inputs, middle axis", inputs: [input([3, 4, 5], "float32", 3), input([3, 4, 5], "float32", 4)], axis: 1 },
    { label: "5 inputs, middle axis, wide inner", inputs: five([3, 2, 70]), axis: 2 },
    { label: "2 inputs, last axis", inputs: [input([3, 4], "float32", 5), input([3, 4], "float32", 6)], axis: 2 },
    { label: "5 inputs, axis −1", inputs: five([6, 7]), axis: -1 },
    { label: "2 inputs, axis −2", inputs: [input([3, 80], "float32", 7), input([3, 80], "float32", 8)], axis: -2 },
    { label: "rank-1 inputs, axis 1", inputs: five([9]), axis: 1 },
    { label: "int32, 5 inputs, axis 1", inputs: five([4, 3], "int32"), axis: 1 },
    { label: "int32, 2 inputs, axis 0", inputs: [input([65], "int32", 9), input([65], "int32", 10)], axis: 0 },
    { label: "bool, 2 inputs, axis −1", inputs: [input([2, 3], "bool", 11), input([2, 3], "bool", 12)], axis: -1 },
    { label: "empty inputs", inputs: [input([0, 3], "float32", 13), input([0, 3], "float32", 14)], axis: 1 },
    { label: "a single input (falls back)", inputs: [input([3, 4], "float32", 15)], axis: 1, fallback: true },
    { label: "short runs in SIMD: embedding features [n, L, 8] stacked on axis 2", inputs: five([30, 4, 8]), axis: 2 },
    { label: "short runs in SIMD, bool, axis 1", inputs: five([60, 7], "bool"), axis: 1 },
  ];

  for (const c of cases) {
    it(`${c.label}: override = original = cpu, bit for bit`, async () => {
      const { calls, out } = await compareModes(() => tf.stack(c.inputs.map(make), c.axis));
      expectHandled(calls, tf.Pack, c.fallback ?? false);
      const shape = c.inputs[0]!.shape;
      const axis = c.axis < 0 ? c.axis + shape.length + 1 : c.axis;
      expect(out[0]!.shape).toEqual([...shape.slice(0, axis), c.inputs.length, ...shape.slice(axis)]);
    });
  }
});

describe("wasm Unpack override", () => {
  const cases: { label: string; value: Input; axis: number }[] = [
    { label: "rank-2, axis 0", value: input([5, 7], "float32", 1), axis: 0 },
    { label: "rank-2, axis 0, wide rows", value: input([3, 90], "float32", 2), axis: 0 },
    { label: "rank-2, last axis", value: input([6, 4], "float32", 3), axis: 1 },
    { label: "rank-3, middle axis", value: input([3, 4, 5], "float32", 4), axis: 1 },
    { label: "rank-3, middle axis, wide inner", value: input([2, 3, 70], "float32", 5), axis: 1 },
    { label: "rank-3, last axis", value: input([3, 4, 5], "float32", 6), axis: 2 },
    { label: "rank-3, axis −1", value: input([2, 3, 4], "float32", 7), axis: -1 },
    { label: "rank-1", value: input([6], "float32", 8), axis: 0 },
    { label: "a single part", value: input([1, 8], "float32", 9), axis: 0 },
    { label: "int32, axis 0", value: input([4, 6], "int32", 10), axis: 0 },
    { label: "int32, middle axis", value: input([3, 5, 2], "int32", 11), axis: 1 },
    { label: "int32, last axis", value: input([3, 5, 2], "int32", 12), axis: 2 },
    { label: "bool, last axis", value: input([3, 4], "bool", 13), axis: 1 },
    { label: "short runs in SIMD: [n, L, 3, 8] on axis 2", value: input([30, 4, 3, 8], "float32", 14), axis: 2 },
    { label: "short runs in SIMD, int32, middle axis, odd inner", value: input([100, 3, 5], "int32", 15), axis: 1 },
    { label: "short runs in SIMD, bool, middle axis", value: input([90, 4, 3], "bool", 16), axis: 1 },
  ];

  for (const c of cases) {
    it(`${c.label}: override = original = cpu, bit for bit`, async () => {
      const { calls, out } = await compareModes(() => tf.unstack(make(c.value), c.axis));
      expectHandled(calls, tf.Unpack, false);
      const axis = c.axis < 0 ? c.axis + c.value.shape.length : c.axis;
      expect(out).toHaveLength(c.value.shape[axis]!);
      for (const o of out) expect(o.shape).toEqual(c.value.shape.filter((_, i) => i !== axis));
    });
  }
});

describe("wasm SplitV override", () => {
  const cases: { label: string; x: Input; splits: number | number[]; axis: number }[] = [
    { label: "equal splits, axis 0", x: input([6, 5], "float32", 1), splits: 3, axis: 0 },
    { label: "equal splits, middle axis", x: input([2, 6, 5], "float32", 2), splits: 2, axis: 1 },
    { label: "equal splits, last axis", x: input([3, 8], "float32", 3), splits: 4, axis: 1 },
    { label: "equal splits, last axis, wide", x: input([3, 256], "float32", 4), splits: 2, axis: -1 },
    { label: "one split", x: input([3, 8], "float32", 5), splits: 1, axis: 1 },
    { label: "sizes with −1, axis 0", x: input([10, 4], "float32", 6), splits: [2, -1, 3], axis: 0 },
    { label: "sizes with −1 and 0, middle axis", x: input([2, 9, 3], "float32", 7), splits: [4, 0, -1, 1], axis: 1 },
    { label: "sizes with 0 and −1, last axis", x: input([4, 10], "float32", 8), splits: [0, 3, -1], axis: 1 },
    { label: "sizes, last axis, wide parts", x: input([3, 200], "float32", 9), splits: [70, -1, 64, 1], axis: -1 },
    { label: "sizes, middle axis, wide inner runs", x: input([2, 5, 40], "float32", 10), splits: [1, 2, 2], axis: 1 },
    { label: "int32, sizes, last axis", x: input([5, 12], "int32", 11), splits: [5, -1, 0], axis: 1 },
    { label: "int32, equal, axis 0", x: input([4, 3, 2], "int32", 12), splits: 2, axis: 0 },
    { label: "bool, sizes, axis −2", x: input([6, 3], "bool", 13), splits: [1, 5], axis: -2 },
    { label: "short runs in SIMD, float32, last axis", x: input([100, 20], "float32", 14), splits: [3, 17], axis: 1 },
    { label: "short runs in SIMD, bool, last axis", x: input([100, 9], "bool", 15), splits: [5, -1], axis: -1 },
    { label: "many long runs in SIMD, float32, last axis", x: input([33, 336], "float32", 16), splits: [168, -1], axis: 1 },
    { label: "many long runs in SIMD, int32, last axis", x: input([20, 203], "int32", 17), splits: [64, 70, -1], axis: 1 },
  ];

  for (const c of cases) {
    it(`${c.label}: override = original = cpu, bit for bit`, async () => {
      const { calls, out } = await compareModes(() => tf.split(make(c.x), c.splits, c.axis));
      expectHandled(calls, tf.SplitV, false);
      const axis = c.axis < 0 ? c.axis + c.x.shape.length : c.axis;
      const sizes =
        typeof c.splits === "number"
          ? Array<number>(c.splits).fill(c.x.shape[axis]! / c.splits)
          : c.splits.map((s) => (s === -1 ? c.x.shape[axis]! - (c.splits as number[]).reduce((t, v) => (v === -1 ? t : t + v), 0) : s));
      expect(out.map((o) => o.shape[axis])).toEqual(sizes);
    });
  }
});

/**
 * tf.gather with the embedding layer's gradient (src/layers/embedding.ts): tf.gather's own gradient
 * needs UnsortedSegmentSum, which the wasm backend does not register. `ids` is captured rather than
 * saved (callers keep it alive through backprop): saving clones it, and wasm's Identity copies, which
 * IS_TEST's per-kernel leak check reports as a leak of the customGrad forward.
 */
function gatherRowsWithGrad(table: tf.Tensor, ids: tf.Tensor): tf.Tensor {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const tableArg = args[0] as tf.Tensor;
    return {
      value: tf.gather(tableArg, ids),
      gradFunc: (dy: tf.Tensor) => tf.scatterND(tf.expandDims(ids, 1), dy, tableArg.shape),
    };
  });
  return op(table) as tf.Tensor;
}

describe("gradients through the copy kernels", () => {
  it("match bit for bit with the overrides on and off, and match cpu", async () => {
    const aData = randomData(4 * 6, 1);
    const bData = randomData(4 * 70, 2);
    const tableData = randomData(20 * 9, 3);
    const constData = randomData(30 * 5, 4);
    const idxData = indexData(12, 20, 5);
    const constIdxData = indexData(4, 30, 6);
    const grads: Partial<Record<Mode, Snapshot[]>> = {};
    let calls: Record<CopyKernel, number> | undefined;
    for (const mode of MODES) {
      await useMode(mode);
      const tensorsBefore = tf.memory().numTensors;
      const idsBefore = numDataIds();
      const idx = tf.tensor1d(idxData, "int32");
      const constIdx = tf.tensor1d(constIdxData, "int32");
      const constTable = tf.tensor2d(constData, [30, 5]);
      const loss = (a: tf.Tensor, b: tf.Tensor, table: tf.Tensor) => {
        const c = tf.concat([a, tf.square(b)], 1); // [4, 76]
        const [p, q, r] = tf.split(c, [10, -1, 3], 1) as [tf.Tensor, tf.Tensor, tf.Tensor]; // [4, 10], [4, 63], [4, 3]
        const s = tf.stack([tf.sin(p), tf.cos(p), p], 1); // [4, 3, 10]
        const cols = tf.unstack(s, 2); // 10 × [4, 3]
        const g = gatherRowsWithGrad(table, idx); // [12, 9]; repeated rows accumulate in the gradient
        const h = tf.reshape(tf.stack([g, tf.square(g)], 2), [-1]); // [216]
        const k = tf.gather(constTable, constIdx); // [4, 5], a constant operand
        return tf.addN([
          tf.sum(tf.mul(cols[0]!, cols[9]!)),
          tf.sum(tf.mul(cols[3]!, cols[3]!)),
          tf.sum(tf.square(q)),
          tf.sum(tf.mul(r, 0.5)),
          tf.sum(tf.mul(h, tf.range(0, 216, 1, "float32"))),
          tf.sum(tf.mul(k, tf.slice(a, [0, 0], [4, 5]))),
        ]);
      };
      const params = [tf.tensor2d(aData, [4, 6]), tf.tensor2d(bData, [4, 70]), tf.tensor2d(tableData, [20, 9])];
      const run = () => tf.grads(loss)(params);
      let g: tf.Tensor[];
      if (mode === "wasm-override") ({ result: g, calls } = countOriginalCalls(run));
      else g = run();
      grads[mode] = await Promise.all(g.map(snapshot));
      tf.dispose([...g, ...params, idx, constIdx, constTable]);
      expect(tf.memory().numTensors).toBe(tensorsBefore);
      expect(numDataIds()).toBe(idsBefore);
    }
    // Forward and backward passes went through the overrides without falling back.
    for (const k of COPY_KERNELS) expect(calls![k]).toBe(0);
    expect(grads["wasm-override"]).toEqual(grads["wasm-original"]);
    // cpu evaluates sin/cos/sums with its own code: compare numerically.
    for (let i = 0; i < 3; i++) {
      const o = new Float32Array(Int32Array.from(grads["wasm-override"]![i]!.bits).buffer);
      const c = new Float32Array(Int32Array.from(grads.cpu![i]!.bits).buffer);
      expect(grads["wasm-override"]![i]!.shape).toEqual(grads.cpu![i]!.shape);
      expect(o.length).toBe(c.length);
      let worst = 0;
      for (let j = 0; j < o.length; j++) worst = Math.max(worst, Math.abs(o[j]! - c[j]!) / (1 + Math.abs(c[j]!)));
      expect(worst).toBeLessThan(1e-5);
    }
  });
});

describe("copy overrides leak nothing", () => {
  it("repeated overridden calls inside tf.tidy leave tensors and data ids unchanged", async () => {
    await useMode("wasm-override");
    const table = tf.tensor2d(randomData(50 * 80, 1), [50, 80]);
    const small = tf.tensor2d(randomData(50 * 8, 2), [50, 8]);
    const idx = tf.tensor2d(indexData(12, 50, 3), [3, 4], "int32");
    const x = tf.tensor3d(randomData(2 * 6 * 5, 4), [2, 6, 5]);
    const ints = tf.tensor2d(values([6, 9], "int32", 5) as Int32Array, [6, 9], "int32");
    const idx1 = tf.tensor1d([1, 1, 49], "int32");
    const tensorsBefore = tf.memory().numTensors;
    const idsBefore = numDataIds();
    for (let i = 0; i < 20; i++) {
      tf.tidy(() => {
        tf.gather(table, idx);
        tf.gather(small, idx);
        tf.gather(small, tf.tensor1d([], "int32"));
        tf.gather(x, tf.tensor1d([0, 4, 4], "int32"), 1); // falls back
        tf.concat([table, small], 1);
        tf.concat([x, x, tf.zeros([2, 0, 5])], 1);
        tf.concat([ints, ints], 0);
        tf.stack([x, x, x], -1);
        tf.stack([ints, ints], 1);
        tf.unstack(x, 1);
        tf.unstack(ints, 0);
        tf.split(x, [2, -1, 0], 1);
        tf.split(table, 5, 1);
        tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.stack(tf.split(tf.concat([a, b], 1), 2, 1))))([small, small]);
        tf.grads((t: tf.Tensor) => tf.sum(tf.unstack(gatherRowsWithGrad(t, idx1), 1)[2]!))([table]);
        tf.gather(x, tf.tensor2d([0, 5, 5, 1, 2, 3], [2, 3], "int32"), 1, 1); // batchDims
      });
    }
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(numDataIds()).toBe(idsBefore);
    tf.dispose([table, small, idx, x, ints, idx1]);
  });
});

describe("wasm Slice override", () => {
  const cases: { label: string; x: Input; begin: number[]; size: number[] }[] = [
    { label: "rows of a matrix (one contiguous run)", x: input([9, 5], "float32", 1), begin: [2, 0], size: [4, 5] },
    { label: "columns of a matrix", x: input([9, 5], "float32", 2), begin: [1, 1], size: [7, 3] },
    { label: "a sequence's key columns [n, L, 24] → [n, L, 16]", x: input([7, 5, 24], "float32", 3), begin: [0, 0, 0], size: [-1, -1, 16] },
    { label: "middle axis, inner axis whole", x: input([4, 6, 3], "float32", 4), begin: [1, 2, 0], size: [2, 3, -1] },
    { label: "4-D, every axis partial", x: input([3, 4, 5, 6], "float32", 5), begin: [1, 1, 2, 3], size: [2, 2, 2, 2] },
    { label: "5-D, wide inner runs", x: input([2, 3, 2, 2, 80], "float32", 6), begin: [1, 0, 1, 0, 5], size: [1, 3, 1, 2, 70] },
    { label: "1-D", x: input([20], "float32", 7), begin: [3], size: [9] },
    { label: "empty", x: input([5, 4], "float32", 8), begin: [2, 1], size: [0, 3] },
    { label: "int32", x: input([6, 7], "int32", 9), begin: [0, 2], size: [6, 4] },
    { label: "bool", x: input([4, 3, 2], "bool", 10), begin: [1, 1, 1], size: [2, 2, 1] },
    { label: "short runs in SIMD: key columns of [n, L, 24]", x: input([30, 10, 24], "float32", 11), begin: [0, 0, 0], size: [-1, -1, 16] },
    { label: "short runs in SIMD, bool, odd runs", x: input([120, 9], "bool", 12), begin: [3, 2], size: [110, 5] },
    // Outer axes one strided call while the axes after them are whole.
    { label: "4-D, runs across the outer axes (first partial, the next two whole)", x: input([5, 3, 4, 10], "float32", 13), begin: [1, 0, 0, 2], size: [3, 3, 4, 5] },
    { label: "4-D, runs across a whole axis only (the one before it partial, then walked)", x: input([4, 5, 3, 6], "int32", 14), begin: [1, 1, 0, 1], size: [2, 2, 3, 4] },
  ];
  for (const c of cases) {
    it(`${c.label}: override = original = cpu, bit for bit`, async () => {
      const { calls, out } = await compareModes(() => tf.slice(make(c.x), c.begin, c.size));
      expectHandled(calls, tf.Slice, false);
      expect(out[0]!.shape).toEqual(c.size.map((s, i) => (s === -1 ? c.x.shape[i]! - c.begin[i]! : s)));
    });
  }
});

describe("wasm Transpose override (last axis kept)", () => {
  const cases: { label: string; x: Input; perm: number[]; fallback?: boolean }[] = [
    { label: "FiBiNet's [B, F, E] → [F, B, E]", x: input([6, 5, 8], "float32", 1), perm: [1, 0, 2] },
    { label: "short runs in SIMD, [B, F, E] → [F, B, E]", x: input([40, 15, 8], "float32", 2), perm: [1, 0, 2] },
    { label: "[F, B, E] → [B, F, E]: the longer output axis first is the copied one", x: input([7, 300, 8], "float32", 10), perm: [1, 0, 2] },
    { label: "4-D, the longest output axis in the middle", x: input([3, 40, 2, 4], "float32", 11), perm: [2, 1, 0, 3] },
    { label: "4-D, two outer axes walked", x: input([3, 4, 5, 6], "float32", 3), perm: [2, 0, 1, 3] },
    { label: "4-D, identity permutation", x: input([2, 3, 4, 5], "float32", 4), perm: [0, 1, 2, 3] },
    { label: "odd runs, int32", x: input([30, 12, 3], "int32", 5), perm: [1, 0, 2] },
    { label: "odd runs, bool", x: input([50, 7, 5], "bool", 6), perm: [1, 0, 2] },
    { label: "empty", x: input([0, 4, 3], "float32", 7), perm: [1, 0, 2] },
    { label: "last axis moved (falls back)", x: input([4, 5, 6], "float32", 8), perm: [2, 1, 0], fallback: true },
    { label: "rank 2 (falls back)", x: input([4, 5], "float32", 9), perm: [1, 0], fallback: true },
  ];
  for (const c of cases) {
    it(`${c.label}: override = original = cpu, bit for bit`, async () => {
      const { calls, out } = await compareModes(() => tf.transpose(make(c.x), c.perm));
      expectHandled(calls, tf.Transpose, c.fallback === true);
      expect(out[0]!.shape).toEqual(c.perm.map((p) => c.x.shape[p]!));
    });
  }
});

describe("wasm Identity override", () => {
  it("shares the input's data (no copy): values survive disposing either side; gradients saved through clone match cpu; nothing leaks", async () => {
    await useMode("wasm-override");
    const backend = tf.backend() as unknown as { refCount(id: tf.DataId): number };
    const x = tf.tensor2d(randomData(6 * 5, 7), [6, 5]);
    const expected = await x.data();
    const idsBefore = numDataIds();
    const y = tf.clone(x); // runs the Identity kernel
    expect(numDataIds()).toBe(idsBefore); // no new buffer
    expect(backend.refCount(x.dataId)).toBe(2);
    x.dispose();
    expect(Array.from(await y.data())).toEqual(Array.from(expected));
    y.dispose();
    expect(numDataIds()).toBe(idsBefore - 1);

    // The engine clones every input a gradient keeps (engine.clone → Identity).
    const a = randomData(8 * 6, 8);
    const b = randomData(6 * 4, 9);
    const grads: Partial<Record<Mode, Float32Array[]>> = {};
    for (const mode of ["cpu", "wasm-original", "wasm-override"] as const) {
      await useMode(mode);
      const g = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.square(tf.matMul(tf.sigmoid(p as tf.Tensor2D), q as tf.Tensor2D))))([tf.tensor2d(a, [8, 6]), tf.tensor2d(b, [6, 4])]);
      grads[mode] = await Promise.all(g.map(async (t) => (await t.data()) as Float32Array));
      tf.dispose(g);
    }
    for (let i = 0; i < 2; i++) {
      expect(Array.from(grads["wasm-override"]![i]!)).toEqual(Array.from(grads["wasm-original"]![i]!));
      for (let j = 0; j < grads.cpu![i]!.length; j++) expect(Math.abs(grads["wasm-override"]![i]![j]! - grads.cpu![i]![j]!)).toBeLessThan(1e-5);
    }
    await useMode("wasm-override");
    const p = tf.tensor2d(a, [8, 6]);
    const tensors = tf.memory().numTensors;
    const ids = numDataIds();
    for (let i = 0; i < 10; i++) tf.tidy(() => void tf.grads((t: tf.Tensor) => tf.sum(tf.sigmoid(tf.clone(t))))([p]));
    expect(tf.memory().numTensors).toBe(tensors);
    expect(numDataIds()).toBe(ids);
    p.dispose();
  });
});

describe("wasm Cast override", () => {
  it("shares the data when the dtype stays (no copy, nothing leaks); other casts are the original's, bit for bit", async () => {
    await useMode("wasm-override");
    const backend = tf.backend() as unknown as { refCount(id: tf.DataId): number };
    for (const dtype of ["float32", "int32", "bool"] as const) {
      const x = make(input([4, 3], dtype, 5));
      const expected = await x.data();
      const ids = numDataIds();
      const y = tf.cast(x, dtype);
      expect(numDataIds()).toBe(ids);
      expect(backend.refCount(x.dataId)).toBe(2);
      x.dispose();
      expect(Array.from(await y.data())).toEqual(Array.from(expected));
      y.dispose();
      expect(numDataIds()).toBe(ids - 1);
    }
    const cases = [
      ["float32", "int32"],
      ["int32", "float32"],
      ["bool", "float32"],
      ["bool", "int32"],
    ] as const;
    for (const [from, to] of cases) {
      const results: Partial<Record<Mode, number[]>> = {};
      for (const mode of MODES) {
        await useMode(mode);
        const x = make(input([5, 2], from, 6));
        const y = tf.cast(x, to);
        expect(y.dtype).toBe(to);
        results[mode] = Array.from(await y.data());
        tf.dispose([x, y]);
      }
      expect(results["wasm-override"]).toEqual(results["wasm-original"]);
      expect(results["wasm-override"]).toEqual(results.cpu);
    }
  });
});
