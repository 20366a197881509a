import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../src/engine/backend.ts";
import { maxDiff, randomData, size, useMode, type Mode, countKernelCalls } from "./helpers/kernel-modes.ts";
import { reducedBlock } from "../src/engine/kernels/wasm-sum.ts";
import {
  activeKernelOverrides,
  applyKernelOverrides,
  kernelOverridesFor,
  removeKernelOverrides,
} from "../src/engine/kernels/registry.ts";



const makeTensor = (data: Float32Array, shape: number[]): tf.Tensor => tf.tensor(data, shape);




/** Counts calls of the wasm Transpose kernel (the override calls it directly, bypassing the engine). */
function countTransposes<T>(fn: () => T): { result: T; transposes: number } {
  const { result, calls } = countKernelCalls(tf.Transpose, fn);
  return { result, transposes: calls };
}

beforeAll(async () => {
  await selectBackend("wasm");
  await tf.ready();
  tf.env().set("IS_TEST", true); // makes the engine throw on data ids leaked by a kernel
});

afterAll(() => {
  removeKernelOverrides();
});

describe("kernel override registry", () => {
  it("lists, applies idempotently and removes the wasm overrides", async () => {
    await useMode("wasm-original");
    const original = tf.getKernel(tf.BatchMatMul, "wasm");
    expect(kernelOverridesFor("wasm", { blas: false })).toEqual([
      "wasm:BatchMatMul/explicit-transpose+small-simd",
      "wasm:_FusedMatMul/explicit-transpose+batched-fix",
      "wasm:GatherV2/js-rows",
      "wasm:Concat/js-runs",
      "wasm:Pack/js-runs",
      "wasm:Unpack/js-runs",
      "wasm:SplitV/js-runs",
      "wasm:Slice/js-runs",
      "wasm:Transpose/runs",
      "wasm:Identity/shared-data",
      "wasm:Cast/same-dtype-shared",
      "wasm:Sum/no-transpose",
      "wasm:Mean/no-transpose",
      "wasm:Multiply/broadcast-simd",
      "wasm:Add/broadcast-simd",
      "wasm:Sub/broadcast-simd",
      "wasm:RealDiv/broadcast-simd",
      "wasm:MktAdam/simd",
      "wasm:MktReluGrad/simd",
      "wasm:MktReluGradSum/simd",
      "wasm:MktDice/simd",
      "wasm:MktDiceGrad/simd",
      "wasm:MktPooledRows/simd",
      "wasm:MktPooledRowsGrad/simd",
      "wasm:MktFieldPairs/simd",
      "wasm:MktFieldPairsGrad/simd",
      "grad:Relu/MktReluGrad",
      "grad:_FusedMatMul/per-input",
      "engine:clone/shared-data",
    ]);
    expect(kernelOverridesFor("cpu")).toEqual(["cpu:MktAdam/fused"]);
    removeKernelOverrides((name) => name.startsWith("cpu:"));
    expect(applyKernelOverrides("cpu")).toEqual(["cpu:MktAdam/fused"]);
    removeKernelOverrides((name) => name.startsWith("cpu:"));
    const plain = kernelOverridesFor("wasm", { blas: false });
    expect(applyKernelOverrides("wasm", { blas: false })).toEqual(plain);
    const patched = tf.getKernel(tf.BatchMatMul, "wasm");
    expect(applyKernelOverrides("wasm", { blas: false })).toEqual(plain);
    expect(tf.getKernel(tf.BatchMatMul, "wasm")).toBe(patched); // not wrapped twice
    expect(patched?.kernelFunc).not.toBe(original?.kernelFunc);
    expect(removeKernelOverrides()).toEqual(plain);
    expect(tf.getKernel(tf.BatchMatMul, "wasm")).toBe(original);
    expect(activeKernelOverrides("wasm")).toEqual([]);
    expect(removeKernelOverrides()).toEqual([]);
  });
});

describe("wasm matmul overrides", () => {
  // [a shape, b shape] before transposition; the batched cases pass through to the original kernel.
  const cases: { label: string; a: number[]; b: number[]; out: number[]; overridden: boolean }[] = [
    { label: "2-D", a: [37, 53], b: [53, 29], out: [37, 29], overridden: true },
    { label: "2-D outer product", a: [6, 1], b: [1, 5], out: [6, 5], overridden: true },
    { label: "2-D dot product", a: [1, 7], b: [7, 1], out: [1, 1], overridden: true },
    { label: "3-D batch 1", a: [1, 19, 23], b: [1, 23, 17], out: [1, 19, 17], overridden: true },
    { label: "3-D batched", a: [3, 19, 23], b: [3, 23, 17], out: [3, 19, 17], overridden: false },
    { label: "3-D × 2-D broadcast", a: [3, 19, 23], b: [23, 17], out: [3, 19, 17], overridden: false },
  ];
  const transposed = (shape: number[], t: boolean) =>
    t ? [...shape.slice(0, -2), shape[shape.length - 1]!, shape[shape.length - 2]!] : shape;

  for (const c of cases) {
    for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]] as const) {
      it(`${c.label}, transposeA=${ta}, transposeB=${tb}: override = original = cpu`, async () => {
        const aShape = transposed(c.a, ta);
        const bShape = transposed(c.b, tb);
        const aData = randomData(size(aShape), 1);
        const bData = randomData(size(bShape), 2);
        const results: Partial<Record<Mode, Float32Array>> = {};
        for (const mode of ["cpu", "wasm-original", "wasm-override"] as const) {
          await useMode(mode);
          const run = () => tf.tidy(() => tf.matMul(tf.tensor(aData, aShape), tf.tensor(bData, bShape), ta, tb));
          const { result, transposes } = mode === "cpu" ? { result: run(), transposes: 0 } : countTransposes(run);
          if (mode === "wasm-override") expect(transposes).toBe(c.overridden ? Number(ta) + Number(tb) : 0);
          if (mode === "wasm-original") expect(transposes).toBe(0);
          expect(result.shape).toEqual(c.out);
          results[mode] = (await result.data()) as Float32Array;
          result.dispose();
        }
        expect(maxDiff(results["wasm-override"]!, results["wasm-original"]!)).toBeLessThan(1e-5);
        expect(maxDiff(results["wasm-override"]!, results.cpu!)).toBeLessThan(1e-5);
      });
    }
  }

  // _FusedMatMul: [a, b] before transposition. slowLoopBug: the original wasm kernel is wrong for this
  // case whenever it takes its non-XNNPACK loop (batched operands or any transpose).
  const fusedCases: { label: string; a: number[]; b: number[]; activation: string; bias: boolean; slowLoopBug: boolean }[] = [
    { label: "2-D + bias, relu", a: [21, 31], b: [31, 13], activation: "relu", bias: true, slowLoopBug: true },
    { label: "batched + bias, linear", a: [3, 5, 30], b: [3, 30, 7], activation: "linear", bias: true, slowLoopBug: true },
    { label: "batched, relu, k > 48", a: [3, 5, 60], b: [3, 60, 7], activation: "relu", bias: false, slowLoopBug: true },
    { label: "batched + bias, prelu", a: [3, 5, 60], b: [3, 60, 7], activation: "prelu", bias: true, slowLoopBug: true },
    { label: "batched + bias, leakyrelu", a: [2, 5, 20], b: [2, 20, 7], activation: "leakyrelu", bias: true, slowLoopBug: true },
    { label: "batched + bias, sigmoid", a: [2, 5, 20], b: [2, 20, 7], activation: "sigmoid", bias: true, slowLoopBug: true },
    { label: "batched, elu", a: [2, 5, 20], b: [2, 20, 7], activation: "elu", bias: false, slowLoopBug: false },
  ];
  for (const c of fusedCases) {
    for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]] as const) {
      it(`_FusedMatMul ${c.label}, transposeA=${ta}, transposeB=${tb}: override = cpu`, async () => {
        const oneBatch = size(c.a.slice(0, -2)) === 1;
        const aShape = transposed(c.a, ta);
        const bShape = transposed(c.b, tb);
        const n = c.b[c.b.length - 1]!;
        const aData = randomData(size(aShape), 3);
        const bData = randomData(size(bShape), 4);
        const biasData = randomData(n, 5);
        const alphaData = randomData(n, 6).map((v) => Math.abs(v));
        const results: Partial<Record<Mode, Float32Array>> = {};
        for (const mode of ["cpu", "wasm-original", "wasm-override"] as const) {
          await useMode(mode);
          const run = () =>
            tf.tidy(() =>
              tf.fused.matMul({
                a: makeTensor(aData, aShape),
                b: makeTensor(bData, bShape),
                transposeA: ta,
                transposeB: tb,
                bias: c.bias ? tf.tensor1d(biasData) : undefined,
                activation: c.activation as tf.fused.Activation,
                preluActivationWeights: c.activation === "prelu" ? tf.tensor1d(alphaData) : undefined,
                leakyreluAlpha: 0.1,
              }),
            );
          const { result, transposes } = mode === "cpu" ? { result: run(), transposes: 0 } : countTransposes(run);
          if (mode === "wasm-override") expect(transposes).toBe(oneBatch ? Number(ta) + Number(tb) : 0);
          results[mode] = (await result.data()) as Float32Array;
          result.dispose();
        }
        expect(maxDiff(results["wasm-override"]!, results.cpu!)).toBeLessThan(1e-5);
        // Documents why the override exists: tfjs-backend-wasm 4.22's slow loop gets these wrong.
        const originalWrong = maxDiff(results["wasm-original"]!, results.cpu!) > 1e-2;
        expect(originalWrong).toBe(c.slowLoopBug && (!oneBatch || ta || tb));
      });
    }
  }

  it("gradients of a small matmul chain match with and without the override (and cpu)", async () => {
    const x = randomData(16 * 24, 6);
    const w1 = randomData(24 * 32, 7);
    const w2t = randomData(8 * 32, 8);
    const grads: Partial<Record<Mode, Float32Array[]>> = {};
    for (const mode of ["cpu", "wasm-original", "wasm-override"] as const) {
      await useMode(mode);
      const X = tf.tensor2d(x, [16, 24]);
      const loss = (a: tf.Tensor, b: tf.Tensor) =>
        tf.mean(tf.square(tf.matMul(tf.sigmoid(tf.matMul(X, a as tf.Tensor2D)), b as tf.Tensor2D, false, true)));
      const run = () => tf.grads(loss)([tf.tensor2d(w1, [24, 32]), tf.tensor2d(w2t, [8, 32])]);
      const { result: g, transposes } = mode === "cpu" ? { result: run(), transposes: 0 } : countTransposes(run);
      // Backprop of X·w1 and h·w2tᵀ transposes once for each of dX = d·w1ᵀ, dW1 = Xᵀ·d, dW2t = dᵀ·h.
      expect(transposes).toBe(mode === "wasm-override" ? 3 : 0);
      grads[mode] = await Promise.all(g.map(async (t) => (await t.data()) as Float32Array));
      tf.dispose([...g, X]);
    }
    for (let i = 0; i < 2; i++) {
      expect(maxDiff(grads["wasm-override"]![i]!, grads["wasm-original"]![i]!)).toBeLessThan(1e-5);
      expect(maxDiff(grads["wasm-override"]![i]!, grads.cpu![i]!)).toBeLessThan(1e-5);
    }
  });

  it("leaks no tensors or data ids over repeated overridden calls inside tf.tidy", async () => {
    await useMode("wasm-override");
    const a = tf.tensor2d(randomData(64 * 48, 9), [64, 48]);
    const b = tf.tensor2d(randomData(40 * 48, 10), [40, 48]);
    const c = tf.tensor2d(randomData(48 * 64, 11), [48, 64]);
    const tensorsBefore = tf.memory().numTensors;
    const dataIdsBefore = tf.engine().backend.numDataIds();
    for (let i = 0; i < 20; i++) {
      tf.tidy(() => {
        tf.matMul(a, b, false, true);
        tf.matMul(a, a, true, false);
        tf.matMul(c, a, true, true);
        tf.grads((w: tf.Tensor) => tf.sum(tf.matMul(a, w as tf.Tensor2D, false, true)))([b]);
        tf.fused.matMul({ a: c, b, transposeA: true, transposeB: true, bias: tf.ones([40]), activation: "relu" });
        const batched = tf.reshape(c, [2, 24, 64]);
        tf.fused.matMul({ a: batched, b: tf.reshape(a, [2, 64, 24]), bias: tf.ones([24]), activation: "relu" });
      });
    }
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(tf.engine().backend.numDataIds()).toBe(dataIdsBefore);
    tf.dispose([a, b, c]);
  });
});

describe("wasm Sum without a transpose", () => {
  // overridden: whether the override computes it (else it hands it to the original kernel).
  const cases: { label: string; shape: number[]; axis: number | number[]; keepDims: boolean; overridden: boolean }[] = [
    { label: "bias gradient [batch, n], axis 0", shape: [37, 23], axis: 0, keepDims: false, overridden: true },
    { label: "axes [0, 1] of 3-D", shape: [4, 6, 5], axis: [0, 1], keepDims: false, overridden: true },
    { label: "axes [1, 0], unsorted", shape: [4, 6, 5], axis: [1, 0], keepDims: false, overridden: true },
    { label: "negative axis -3", shape: [4, 6, 5], axis: -3, keepDims: true, overridden: true },
    { label: "keepDims", shape: [9, 7], axis: [0], keepDims: true, overridden: true },
    { label: "innermost axis (original)", shape: [9, 7], axis: 1, keepDims: false, overridden: false },
    { label: "every axis (original)", shape: [9, 7], axis: [0, 1], keepDims: false, overridden: false },
    { label: "sequence pooling [n, L, d] over L", shape: [7, 20, 24], axis: 1, keepDims: false, overridden: true },
    { label: "middle block [1, 2] of 4-D, keepDims", shape: [3, 4, 6, 5], axis: [2, 1], keepDims: true, overridden: true },
    { label: "axes [0, 2], not consecutive (original)", shape: [4, 6, 5], axis: [0, 2], keepDims: false, overridden: false },
    { label: "innermost block [1, 2] (original)", shape: [4, 6, 5], axis: [1, 2], keepDims: false, overridden: false },
  ];
  // wasm's own kernel returns uninitialized memory for an empty input; the override returns zeros.
  it.each([
    { shape: [0, 5], axis: 0, keepDims: false, out: [5] },
    { shape: [0, 5], axis: [0, 1], keepDims: false, out: [] },
    { shape: [3, 0], axis: 1, keepDims: true, out: [3, 1] },
    { shape: [2, 0, 4], axis: [1], keepDims: false, out: [2, 4] },
  ])("the sum of an empty tensor $shape over $axis is zeros of shape $out", async ({ shape, axis, keepDims, out }) => {
    await useMode("wasm-override");
    tf.dispose(tf.tidy(() => tf.fill([256, 256], 7))); // non-zero heap memory for a buggy kernel to return
    const sum = tf.sum(tf.zeros(shape), axis, keepDims);
    expect(sum.shape).toEqual(out);
    expect(Array.from(await sum.data()).every((v) => v === 0)).toBe(true);
    sum.dispose();
  });
  for (const c of cases) {
    it(`${c.label}: override = original = cpu`, async () => {
      const data = randomData(size(c.shape), 12);
      const results: Partial<Record<Mode, Float32Array>> = {};
      const shapes: Partial<Record<Mode, number[]>> = {};
      for (const mode of ["cpu", "wasm-original", "wasm-override"] as const) {
        await useMode(mode);
        const out = tf.tidy(() => tf.sum(tf.tensor(data, c.shape), c.axis, c.keepDims));
        shapes[mode] = out.shape;
        results[mode] = (await out.data()) as Float32Array;
        out.dispose();
      }
      expect(shapes["wasm-override"]).toEqual(shapes.cpu);
      expect(reducedBlock(c.axis, c.shape.length) !== undefined).toBe(c.overridden);
      expect(maxDiff(results["wasm-override"]!, results.cpu!)).toBeLessThan(1e-5);
      expect(maxDiff(results["wasm-override"]!, results["wasm-original"]!)).toBeLessThan(1e-5);
    });
  }
});
