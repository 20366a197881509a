import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadBlas, loadedBlas, type Blas } from "../src/engine/blas.ts";
import { selectBackend } from "../src/engine/backend.ts";
import { activeKernelOverrides, kernelOverridesFor, removeKernelOverrides } from "../src/engine/kernels/registry.ts";
import { maxDiff, randomData, size, useMode, type Mode } from "./helpers/kernel-modes.ts";

// The OpenBLAS matmul kernels exist only where the library loads (here: libopenblas0-pthread).
const state = await loadBlas();
const reason = state.blas ? "" : ` (skipped: ${state.reason})`;

const transposed = (shape: number[], t: boolean) => (t ? [...shape.slice(0, -2), shape[shape.length - 1]!, shape[shape.length - 2]!] : shape);


/** Counts sgemm calls (the kernels call the library object's method). */
function countSgemm<T>(fn: () => T): { result: T; calls: number } {
  const blas = loadedBlas() as Blas;
  const sgemm = blas.sgemm;
  let calls = 0;
  blas.sgemm = (...args) => (calls++, sgemm(...args));
  try {
    return { result: fn(), calls };
  } finally {
    blas.sgemm = sgemm;
  }
}

beforeAll(async () => {
  await selectBackend("wasm");
  tf.env().set("IS_TEST", true); // the engine throws on data ids a kernel leaks
});
afterAll(() => {
  removeKernelOverrides();
});

describe.skipIf(!state.blas)(`OpenBLAS matmul kernels${reason}`, () => {
  it("replace the explicit-transpose matmul overrides when the library loads", async () => {
    await useMode("wasm-blas");
    expect(kernelOverridesFor("wasm").slice(0, 2)).toEqual(["wasm:BatchMatMul/openblas+small-simd", "wasm:_FusedMatMul/openblas"]);
    expect(activeKernelOverrides("wasm")).toEqual(kernelOverridesFor("wasm"));
    await useMode("wasm-override");
    expect(activeKernelOverrides("wasm").slice(0, 2)).toEqual(["wasm:BatchMatMul/explicit-transpose+small-simd", "wasm:_FusedMatMul/explicit-transpose+batched-fix"]);
  });

  // sgemm calls expected per product: batched products of up to 8,192 multiply-adds per matrix go
  // to the SIMD kernel (small-batched-matmul.ts); one library call per matrix otherwise.
  const cases: { label: string; a: number[]; b: number[]; out: number[]; calls: number }[] = [
    { label: "2-D", a: [37, 53], b: [53, 29], out: [37, 29], calls: 1 },
    { label: "2-D outer product", a: [6, 1], b: [1, 5], out: [6, 5], calls: 1 },
    { label: "3-D batch 1", a: [1, 19, 23], b: [1, 23, 17], out: [1, 19, 17], calls: 1 },
    { label: "3-D batched, large", a: [3, 40, 50], b: [3, 50, 30], out: [3, 40, 30], calls: 3 },
    { label: "3-D × 2-D broadcast, large", a: [3, 40, 50], b: [50, 30], out: [3, 40, 30], calls: 3 },
    { label: "2-D × 3-D broadcast, large", a: [40, 50], b: [2, 50, 30], out: [2, 40, 30], calls: 2 },
    { label: "4-D batched, large", a: [2, 2, 40, 50], b: [2, 2, 50, 30], out: [2, 2, 40, 30], calls: 4 },
    { label: "3-D batched, gate mixing (2,048 per matrix: SIMD kernel)", a: [5, 1, 2], b: [5, 2, 1024], out: [5, 1, 1024], calls: 0 },
    { label: "3-D batched, small (SIMD kernel)", a: [3, 5, 7], b: [3, 7, 6], out: [3, 5, 6], calls: 0 },
    { label: "3-D batched, at the threshold (8,192 per matrix: SIMD kernel)", a: [3, 16, 32], b: [3, 32, 16], out: [3, 16, 16], calls: 0 },
    { label: "3-D batched, just over the threshold (8,400 per matrix)", a: [3, 20, 20], b: [3, 20, 21], out: [3, 20, 21], calls: 3 },
  ];
  for (const c of cases) {
    for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]] as const) {
      it(`${c.label}, transposeA=${ta}, transposeB=${tb}: = cpu`, async () => {
        const aShape = transposed(c.a, ta);
        const bShape = transposed(c.b, tb);
        const aData = randomData(size(aShape), 1);
        const bData = randomData(size(bShape), 2);
        const results: Partial<Record<Mode, Float32Array>> = {};
        for (const mode of ["cpu", "wasm-blas"] as const) {
          await useMode(mode);
          const run = () => tf.tidy(() => tf.matMul(tf.tensor(aData, aShape), tf.tensor(bData, bShape), ta, tb));
          const { result, calls } = mode === "cpu" ? { result: run(), calls: 0 } : countSgemm(run);
          if (mode === "wasm-blas") expect(calls).toBe(c.calls);
          expect(result.shape).toEqual(c.out);
          results[mode] = (await result.data()) as Float32Array;
          result.dispose();
        }
        expect(maxDiff(results["wasm-blas"]!, results.cpu!)).toBeLessThan(1e-5);
      });
    }
  }

  const fusedCases: { label: string; a: number[]; b: number[]; activation: string; bias: number[] | undefined; calls: number }[] = [
    { label: "2-D + bias, relu", a: [21, 31], b: [31, 13], activation: "relu", bias: [13], calls: 1 },
    { label: "2-D + [1, n] bias, linear", a: [21, 31], b: [31, 13], activation: "linear", bias: [1, 13], calls: 1 },
    { label: "2-D, sigmoid", a: [21, 31], b: [31, 13], activation: "sigmoid", bias: undefined, calls: 1 },
    { label: "2-D + bias, prelu", a: [21, 31], b: [31, 13], activation: "prelu", bias: [13], calls: 1 },
    { label: "2-D + bias, leakyrelu", a: [21, 31], b: [31, 13], activation: "leakyrelu", bias: [13], calls: 1 },
    { label: "batched, large + bias, relu", a: [3, 40, 50], b: [3, 50, 30], activation: "relu", bias: [30], calls: 3 },
  ];
  for (const c of fusedCases) {
    for (const [ta, tb] of [[false, false], [true, true]] as const) {
      it(`_FusedMatMul ${c.label}, transposeA=${ta}, transposeB=${tb}: = cpu`, async () => {
        const aShape = transposed(c.a, ta);
        const bShape = transposed(c.b, tb);
        const n = c.b[c.b.length - 1]!;
        const [aData, bData] = [randomData(size(aShape), 3), randomData(size(bShape), 4)];
        const biasData = c.bias ? randomData(size(c.bias), 5) : undefined;
        const alphaData = randomData(n, 6).map((v) => Math.abs(v));
        const results: Partial<Record<Mode, Float32Array>> = {};
        for (const mode of ["cpu", "wasm-blas"] as const) {
          await useMode(mode);
          const run = () =>
            tf.tidy(() =>
              tf.fused.matMul({
                a: tf.tensor(aData, aShape),
                b: tf.tensor(bData, bShape),
                transposeA: ta,
                transposeB: tb,
                bias: biasData ? tf.tensor(biasData, c.bias) : undefined,
                activation: c.activation as tf.fused.Activation,
                preluActivationWeights: c.activation === "prelu" ? tf.tensor1d(alphaData) : undefined,
                leakyreluAlpha: 0.1,
              }),
            );
          const { result, calls } = mode === "cpu" ? { result: run(), calls: 0 } : countSgemm(run);
          if (mode === "wasm-blas") expect(calls).toBe(c.calls);
          results[mode] = (await result.data()) as Float32Array;
          result.dispose();
        }
        expect(maxDiff(results["wasm-blas"]!, results.cpu!)).toBeLessThan(1e-5);
      });
    }
  }

  it("an empty inner dimension (an empty batch's weight gradient) gives zeros, plain and batched, with a bias", async () => {
    await useMode("wasm-blas");
    // Fill the heap with non-zero values first: wasm's own kernel returns whatever memory it gets.
    tf.dispose(tf.tidy(() => tf.fill([256, 256], 7)));
    const plain = tf.tidy(() => tf.matMul(tf.zeros([0, 5]), tf.zeros([0, 4]), true, false));
    expect(plain.shape).toEqual([5, 4]);
    expect(Array.from(await plain.data())).toEqual(new Array(20).fill(0));
    const batched = tf.tidy(() => tf.matMul(tf.zeros([3, 2, 0]), tf.zeros([3, 0, 6])));
    expect(Array.from(await batched.data())).toEqual(new Array(36).fill(0));
    const fused = tf.tidy(() => tf.fused.matMul({ a: tf.zeros([2, 0]), b: tf.zeros([0, 3]), bias: tf.tensor1d([1, -2, 3]), activation: "relu" }));
    expect(Array.from(await fused.data())).toEqual([1, 0, 3, 1, 0, 3]);
    // A Dense layer's weight gradient on a batch with no rows.
    const w = tf.variable(tf.ones([4, 3]));
    const { grads } = tf.variableGrads(() => tf.sum(tf.matMul(tf.zeros([0, 4]), w)) as tf.Scalar, [w]);
    expect(Array.from(await grads[w.name]!.data())).toEqual(new Array(12).fill(0));
    tf.dispose([plain, batched, fused, w, grads[w.name]!]);
  });

  it("gradients of a Dense stack match cpu, and nothing leaks over repeated steps", async () => {
    const x = randomData(64 * 48, 7);
    const w1 = randomData(48 * 40, 8);
    const w2 = randomData(40 * 16, 9);
    const grads: Partial<Record<Mode, Float32Array[]>> = {};
    for (const mode of ["cpu", "wasm-blas"] as const) {
      await useMode(mode);
      const X = tf.tensor2d(x, [64, 48]);
      const bias = tf.zeros([40]);
      const loss = (a: tf.Tensor, b: tf.Tensor) =>
        tf.mean(tf.square(tf.matMul(tf.fused.matMul({ a: X, b: a as tf.Tensor2D, bias, activation: "relu" }), b as tf.Tensor2D)));
      const g = tf.grads(loss)([tf.tensor2d(w1, [48, 40]), tf.tensor2d(w2, [40, 16])]);
      grads[mode] = await Promise.all(g.map(async (t) => (await t.data()) as Float32Array));
      tf.dispose(g);
      if (mode === "wasm-blas") {
        const tensors = tf.memory().numTensors;
        const dataIds = tf.engine().backend.numDataIds();
        for (let i = 0; i < 10; i++) {
          tf.tidy(() => {
            tf.grads(loss)([tf.tensor2d(w1, [48, 40]), tf.tensor2d(w2, [40, 16])]);
          });
        }
        expect(tf.memory().numTensors).toBe(tensors);
        expect(tf.engine().backend.numDataIds()).toBe(dataIds);
      }
      tf.dispose([X, bias]);
    }
    for (let i = 0; i < 2; i++) expect(maxDiff(grads["wasm-blas"]![i]!, grads.cpu![i]!)).toBeLessThan(1e-5);
  });
});
