import * as tf from "@tensorflow/tfjs";
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../src/engine/backend.ts";
import { WASM_BASE64 } from "../src/engine/kernels/adam-simd.wasm.ts";
import { ADAM_KERNEL, adamUpdate, simdAdamFor, type AdamAttrs } from "../src/engine/kernels/adam-kernel.ts";
import { wasmHeapMemory } from "../src/engine/kernels/wasm-module.ts";
import { activeKernelOverrides, applyKernelOverrides, removeKernelOverrides } from "../src/engine/kernels/registry.ts";
import { Adam } from "../src/train/adam.ts";
import { compileWat, generatedModule, generatedPath, WAT_SOURCES } from "../scripts/wasm.ts";
import { maxDiff, randomData, size, useMode } from "./helpers/kernel-modes.ts";
import { loadedBlas } from "../src/engine/blas.ts";

/**
 * The wasm Adam kernel (adam-simd.wat: f32x4 loop and scalar tail, run by its own instance on
 * tfjs's heap) against adamUpdate (the JS loop the cpu kernel and the earlier wasm kernel run) and
 * against the tfjs-ops Adam of src/train/adam.ts.
 *
 * Tolerances, as maxDiff (|x − y| / (1 + |y|)): adamUpdate computes each element in doubles and
 * rounds once to float32; the SIMD loop rounds after each of its ~10 float32 operations (no FMA
 * in wasm) and takes its scalars (lr/c1, 1/c2, 1 − β, …) computed in doubles and rounded once. A
 * single step from the same state then differs by about one float32 ulp of the values' scale
 * (measured ≤ 6e-8 over 1M elements); ONE_STEP = 2^-22 (two ulps of 1) allows that and nothing
 * more. Over several steps the roundings compound a little (MULTI_STEP = 1e-6), and tfjs's ops
 * take another order of operations (lr · (m/c1) / …), as in test/train/adam.test.ts.
 */
const ONE_STEP = 2 ** -22;
const MULTI_STEP = 1e-6;

const attrsAt = (t: number, learningRate = 0.01): AdamAttrs => ({
  learningRate,
  beta1: 0.9,
  beta2: 0.999,
  epsilon: 1e-7,
  correction1: 1 - 0.9 ** t,
  correction2: 1 - 0.999 ** t,
});

interface State {
  param: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

/** A state as after some steps: m in [-0.1, 0.1), v ≥ 0 (squares, some exactly 0). */
function stateOf(n: number, seed: number): State {
  const m = randomData(n, seed + 1).map((x) => x / 10);
  const v = randomData(n, seed + 2).map((x) => (x > 0.9 ? 0 : (x * x) / 100));
  return { param: randomData(n, seed), m, v };
}

function jsStep(s: State, grad: Float32Array, a: AdamAttrs): State {
  const out = { param: new Float32Array(grad.length), m: new Float32Array(grad.length), v: new Float32Array(grad.length) };
  adamUpdate(s.param, s.m, s.v, grad, out, a);
  return out;
}

/** One run of the registered wasm kernel on fresh tensors; reads the outputs back and frees everything. */
function kernelStep(s: State, grad: Float32Array, shape: number[], a: AdamAttrs): State {
  return tf.tidy(() => {
    const inputs = { param: tf.tensor(s.param, shape), m: tf.tensor(s.m, shape), v: tf.tensor(s.v, shape), grad: tf.tensor(grad, shape) };
    const [param, m, v] = tf.engine().runKernel(ADAM_KERNEL, inputs, a as unknown as tf.NamedAttrMap) as tf.Tensor[];
    return { param: param!.dataSync() as Float32Array, m: m!.dataSync() as Float32Array, v: v!.dataSync() as Float32Array };
  });
}

function expectClose(x: State, y: State, tolerance: number): void {
  for (const k of ["param", "m", "v"] as const) expect(maxDiff(x[k], y[k]), k).toBeLessThan(tolerance);
}

type WasmBackendView = { refCount(id: tf.DataId): number; wasm: { HEAPU8: Uint8Array } };
const wasmBackend = () => tf.backend() as unknown as WasmBackendView;

beforeAll(async () => {
  await selectBackend("wasm");
  tf.env().set("IS_TEST", true); // makes the engine throw on data ids leaked by a kernel
});

afterAll(() => {
  applyKernelOverrides("wasm"); // as selectBackend left them, whatever a failed test removed
});

describe("adam-simd.wat", () => {
  it("the committed bytes are what the WAT compiles to (npm run build:wasm)", async () => {
    for (const source of WAT_SOURCES) {
      const committed = await readFile(generatedPath(source), "utf8");
      expect(committed).toBe(generatedModule(source, await compileWat(source)));
    }
    expect(WASM_BASE64.length).toBeGreaterThan(100);
  });

  it("is the registered wasm kernel and runs on tfjs's own heap", () => {
    expect(activeKernelOverrides("wasm")).toContain("wasm:MktAdam/simd");
    const memory = wasmHeapMemory(tf.backend());
    expect(memory).toBeDefined();
    expect(memory!.buffer).toBe(wasmBackend().wasm.HEAPU8.buffer);
    expect(simdAdamFor(memory!)).toBe(simdAdamFor(memory!)); // one instance per heap
  });
});

describe("wasm Adam kernel: SIMD against the JS loop", () => {
  // Scalars, sizes below, at and around multiples of 4 (the scalar tail), and odd 2-D shapes.
  const shapes: number[][] = [[], [1], [2], [3], [4], [5], [7], [8], [9], [33], [3, 5], [17, 31], [1024]];
  for (const shape of shapes) {
    it(`one step, shape [${shape.join(", ")}]`, () => {
      const n = size(shape);
      const state = stateOf(n, n);
      const grad = randomData(n, n + 7);
      const a = attrsAt(3);
      const expected = jsStep(state, grad, a);
      const got = kernelStep(state, grad, shape, a);
      expectClose(got, expected, ONE_STEP);
      // It really stepped: every parameter moved (the update is never 0 for a nonzero gradient).
      for (let i = 0; i < n; i++) if (grad[i] !== 0) expect(got.param[i]).not.toBe(state.param[i]);
    });
  }

  it("an empty tensor", () => {
    const empty = { param: new Float32Array(0), m: new Float32Array(0), v: new Float32Array(0) };
    const got = kernelStep(empty, new Float32Array(0), [0, 4], attrsAt(1));
    expect(got.param.length).toBe(0);
  });

  it("gradients of every scale: zeros, tiny (v underflows in float32), huge; step 1 (c1 = 0.1)", () => {
    const grad = Float32Array.from([0, -0, 1e-30, -1e-20, 1e-10, 3e-4, -1, 7.5, 1e10, -3e18, 0.5, 1e-38, 2, -2, 5, 6, 7]);
    const n = grad.length;
    const zeros = { param: randomData(n, 4), m: new Float32Array(n), v: new Float32Array(n) };
    const a = attrsAt(1);
    const got = kernelStep(zeros, grad, [n], a);
    expectClose(got, jsStep(zeros, grad, a), ONE_STEP);
    expect(got.param.every(Number.isFinite)).toBe(true);
  });

  it("several consecutive steps, each from the kernel's own previous state", () => {
    const n = 4099;
    let simd = stateOf(n, 11);
    let js = simd;
    for (let t = 1; t <= 6; t++) {
      const grad = randomData(n, 100 + t);
      const a = attrsAt(t, 0.05);
      expectClose(kernelStep(simd, grad, [n], a), jsStep(simd, grad, a), ONE_STEP); // each step alone is tight
      simd = kernelStep(simd, grad, [n], a);
      js = jsStep(js, grad, a);
    }
    expectClose(simd, js, MULTI_STEP);
    expect(maxDiff(simd.param, stateOf(n, 11).param)).toBeGreaterThan(0.05); // moved by ~6 × lr
  });

  it("a large array (2^20 + 3 elements) across a heap growth", () => {
    const n = 2 ** 20 + 3;
    const memory = wasmHeapMemory(tf.backend())!;
    const state = stateOf(n, 21);
    const grad = randomData(n, 22);
    const a = attrsAt(10);
    const expected = jsStep(state, grad, a);
    // A 96 MiB tensor between the inputs and the outputs forces the heap to grow (outputs allocated
    // after it): the kernel must take its offsets after every allocation, not cache views.
    const before = memory.buffer.byteLength;
    const got = tf.tidy(() => {
      const inputs = { param: tf.tensor(state.param), m: tf.tensor(state.m), v: tf.tensor(state.v), grad: tf.tensor(grad) };
      const ballast = tf.zeros([24 * 2 ** 20]);
      const [param, m, v] = tf.engine().runKernel(ADAM_KERNEL, inputs, a as unknown as tf.NamedAttrMap) as tf.Tensor[];
      ballast.dispose();
      return { param: param!.dataSync() as Float32Array, m: m!.dataSync() as Float32Array, v: v!.dataSync() as Float32Array };
    });
    expect(memory.buffer.byteLength).toBeGreaterThan(before);
    expectClose(got, expected, ONE_STEP);
  });
});

describe("wasm Adam kernel: new outputs, never the inputs' buffers", () => {
  it("leaves its inputs untouched and a snapshot clone keeps its values", () => {
    const w = tf.tidy(() => tf.variable(tf.tensor(randomData(1001, 51), [7, 143])));
    const adam = new Adam(0.01);
    const step = (seed: number) => tf.tidy(() => adam.applyGradients({ [w.name]: tf.tensor(randomData(w.size, seed), w.shape) }));
    step(1);
    // A snapshot as checkpoint.ts takes one (tf.clone, which shares the data): no step may write into it.
    const saved = tf.clone(w);
    const values = w.dataSync().slice();
    for (let s = 2; s < 5; s++) step(s);
    expect(saved.dataSync()).toEqual(values);
    expect(maxDiff(w.dataSync() as Float32Array, values as Float32Array)).toBeGreaterThan(1e-3);
    tf.dispose([saved, w]);
    adam.dispose();
  });

  // tfjs-backend-wasm's XNNPACK matmuls cache a weight matrix packed, keyed by its tensor: a weight
  // updated in place was multiplied in its old packing from then on, and training without OpenBLAS
  // stopped learning. Run with MKT_BLAS=off too (the wasm-override mode uses wasm's own matmuls).
  it.each(["wasm-override", "wasm-blas"] as const)("a weight Adam updated is multiplied with its new values (%s)", async (mode) => {
    if (mode === "wasm-blas" && !loadedBlas()) return;
    await useMode(mode);
    const x = tf.tensor2d(randomData(8 * 6, 61), [8, 6]);
    const w = tf.variable(tf.tensor2d(randomData(6 * 4, 62), [6, 4]));
    const adam = new Adam(0.5);
    for (let s = 0; s < 3; s++) {
      adam.minimize(() => tf.sum(tf.matMul(x, w as tf.Tensor2D)) as tf.Scalar, [w]);
      const product = tf.tidy(() => tf.matMul(x, w as tf.Tensor2D).dataSync());
      const fromValues = tf.tidy(() => tf.matMul(x, tf.tensor2d(w.dataSync() as Float32Array, [6, 4])).dataSync());
      expect(maxDiff(product as Float32Array, fromValues as Float32Array)).toBe(0);
    }
    tf.dispose([x, w]);
    adam.dispose();
  });
});

describe("Adam with the SIMD kernel against tfjs ops", () => {
  /** `steps` Adam steps on variables of awkward sizes; returns their values and the tensor count after each step. */
  function run(steps: number): { values: Float32Array[]; tensors: number[] } {
    const vars = tf.tidy(() => [tf.variable(tf.tensor(randomData(1, 61), [])), tf.variable(tf.tensor(randomData(4 * 7 + 3, 62), [31])), tf.variable(tf.tensor(randomData(65 * 33, 63), [65, 33]))]);
    const adam = new Adam(0.02);
    const tensors: number[] = [];
    for (let s = 0; s < steps; s++) {
      tf.tidy(() => adam.applyGradients(Object.fromEntries(vars.map((v, i) => [v.name, tf.add(tf.mul(v, 0.5), tf.tensor(randomData(v.size, 70 + 10 * s + i), v.shape))]))));
      tensors.push(tf.memory().numTensors);
    }
    adam.dispose();
    const values = vars.map((v) => (v.dataSync() as Float32Array).slice());
    tf.dispose(vars);
    return { values, tensors };
  }

  it("same values over 8 steps, and no tensor or buffer left behind", () => {
    const tensors = tf.memory().numTensors;
    const buffers = tf.memory().numDataBuffers;
    const simd = run(8);
    expect(new Set(simd.tensors.slice(1)).size).toBe(1); // flat once the moments exist
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.memory().numDataBuffers).toBe(buffers);
    removeKernelOverrides((name) => name === "wasm:MktAdam/simd");
    try {
      expect(tf.getKernel(ADAM_KERNEL, "wasm")).toBeUndefined();
      const ops = run(8);
      simd.values.forEach((x, i) => expect(maxDiff(x, ops.values[i]!)).toBeLessThan(MULTI_STEP));
      expect(maxDiff(simd.values[2]!, randomData(65 * 33, 63))).toBeGreaterThan(0.05);
    } finally {
      applyKernelOverrides("wasm");
    }
  });

  it("a tiny model trains to the same weights with the kernel overrides on and off (--no-kernel-overrides)", () => {
    const x = randomData(64 * 13, 81);
    const y = Float32Array.from(randomData(64, 82), (r) => (r > 0 ? 1 : 0));
    const train = (): Float32Array[] => {
      const [w1, b1, w2] = tf.tidy(() => [
        tf.variable(tf.tensor(randomData(13 * 10, 83).map((r) => r / 2), [13, 10])),
        tf.variable(tf.zeros([10])),
        tf.variable(tf.tensor(randomData(10, 84), [10, 1])),
      ]);
      const adam = new Adam(0.01);
      const xs = tf.tensor(x, [64, 13]);
      const ys = tf.tensor(y, [64, 1]);
      for (let s = 0; s < 5; s++) adam.minimize(() => tf.losses.sigmoidCrossEntropy(ys, tf.matMul(tf.relu(tf.add(tf.matMul(xs, w1), b1)), w2)) as tf.Scalar);
      adam.dispose();
      const out = [w1, b1, w2].map((v) => (v.dataSync() as Float32Array).slice());
      tf.dispose([w1, b1, w2, xs, ys]);
      return out;
    };
    const on = train();
    removeKernelOverrides();
    try {
      expect(activeKernelOverrides("wasm")).toEqual([]);
      const off = train();
      on.forEach((w, i) => expect(maxDiff(w, off[i]!)).toBeLessThan(1e-5)); // matmul overrides add their own rounding
      expect(maxDiff(on[1]!, new Float32Array(10))).toBeGreaterThan(0.01); // trained: biases moved from 0
    } finally {
      applyKernelOverrides("wasm");
    }
  });
});
