import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../src/engine/backend.ts";
import { loadBlas } from "../src/engine/blas.ts";
import { RELU_GRAD_KERNEL, RELU_GRAD_SUM_KERNEL, reluGradJs } from "../src/engine/kernels/relu-grad.ts";
import { activeKernelOverrides, applyKernelOverrides, kernelOverridesFor, removeKernelOverrides } from "../src/engine/kernels/registry.ts";
import { sumBlock, sumRowsJs } from "../src/engine/kernels/wasm-sum.ts";
import { broadcastPlan } from "../src/engine/kernels/wasm-broadcast.ts";
import { dense } from "../src/layers/dense.ts";
import { WAT_SOURCES } from "../scripts/wasm.ts";
import { maxDiff, randomData, size, useMode } from "./helpers/kernel-modes.ts";

/**
 * The dense-layer kernels of a training step: ReLU's gradient in one pass (MktReluGrad,
 * relu-simd.wat, run through the gradient override grad:Relu/MktReluGrad), the Sum override's
 * SIMD column sums (sum-simd.wat), and Dense's bias fused into the matmul.
 *
 * MktReluGrad multiplies dy by the factor tfjs's Step makes, so it is compared bit for bit with
 * tfjs's own gradient (overrides removed) and the cpu backend's, NaNs by being NaN. The SIMD sums
 * make the same float64 additions in the same order as the JS loop they replaced, so they are
 * compared bit for bit with it, on data whose float32 sums would differ. The committed bytes of
 * both WAT modules are checked against a fresh compile by test/kernels-adam.test.ts (every
 * WAT_SOURCES entry).
 */

beforeAll(async () => {
  await selectBackend("wasm");
  tf.env().set("IS_TEST", true); // makes the engine throw on data ids leaked by a kernel
});

afterAll(async () => {
  await tf.setBackend("wasm");
  applyKernelOverrides("wasm"); // as selectBackend left them, whatever a failed test removed
});

/** Equal bit patterns, or both NaN (a NaN's payload is not specified by wasm arithmetic). */
function expectSameBits(actual: Float32Array, expected: Float32Array, label = ""): void {
  expect(actual.length, label).toBe(expected.length);
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < actual.length; i++) {
    if (Number.isNaN(expected[i]!)) expect(Number.isNaN(actual[i]!), `${label} [${i}] NaN`).toBe(true);
    else if (a[i] !== e[i]) expect(`${label} [${i}] ${actual[i]} (0x${a[i]!.toString(16)})`).toBe(`${expected[i]} (0x${e[i]!.toString(16)})`);
  }
}

// The OpenBLAS kernels' cases run only where the library loads (here: libopenblas0-pthread).
const blasState = await loadBlas();
const withBlas = blasState.blas ? "" : ` (skipped: ${blasState.reason})`;

const SPECIAL = [NaN, 0, -0, 1e-45, -1e-45, 1.1754942e-38, Infinity, -Infinity, 1, -1, 3.5, -2.25];

/** x and dy of n elements: every special value of x against every special dy (as far as n reaches), then random. */
function reluCase(n: number, seed: number): { x: Float32Array; dy: Float32Array } {
  const x = randomData(n, seed);
  const dy = randomData(n, seed + 1);
  for (let i = 0; i < Math.min(n, SPECIAL.length * SPECIAL.length); i++) {
    x[i] = SPECIAL[i % SPECIAL.length]!;
    dy[i] = SPECIAL[Math.floor(i / SPECIAL.length)]!;
  }
  // Some exact zeros among the random ones too, at positions inside SIMD vectors and in the tail.
  for (let i = SPECIAL.length * SPECIAL.length; i < n; i += 7) x[i] = i % 2 === 0 ? 0 : -0;
  return { x, dy };
}

function reluGradOf(x: Float32Array, dy: Float32Array, shape: number[]): Float32Array {
  return tf.tidy(() => tf.grad((t: tf.Tensor) => tf.relu(t))(tf.tensor(x, shape), tf.tensor(dy, shape)).dataSync() as Float32Array);
}

const kernelNames = (p: Awaited<ReturnType<typeof tf.profile>>) => p.kernels.map((k) => k.name);

describe("ReLU's gradient in one pass (MktReluGrad)", () => {
  const shapes = [[1], [3], [4], [5], [7], [12, 12], [1023], [33, 129], [4099]];
  for (const shape of shapes) {
    it(`[${shape}]: the same bits as tfjs's gradient on wasm and on cpu`, async () => {
      const { x, dy } = reluCase(size(shape), 40 + shape.length);
      await useMode("wasm-original");
      const original = reluGradOf(x, dy, shape);
      await useMode("cpu");
      const cpu = reluGradOf(x, dy, shape);
      await useMode("wasm-blas");
      const tensors = tf.memory().numTensors;
      const overridden = reluGradOf(x, dy, shape);
      expect(tf.memory().numTensors).toBe(tensors);
      const js = new Float32Array(x.length);
      reluGradJs(dy, x, js);
      expectSameBits(overridden, original, "override vs wasm original");
      expectSameBits(original, cpu, "wasm original vs cpu");
      expectSameBits(js, original, "reluGradJs vs wasm original");
    });
  }

  it("spells out tfjs's semantics: step(0) = 0, step(NaN) = NaN, dy · +0 keeps dy's sign", async () => {
    await useMode("wasm-blas");
    const x = new Float32Array([0, -0, 0, NaN, 1e-45, -1e-45, -3, 2, 2, -1]);
    const dy = new Float32Array([5, 5, -5, 1, 7, 7, -2, NaN, -0, Infinity]);
    const g = reluGradOf(x, dy, [x.length]);
    expect(Array.from(g)).toEqual([0, 0, -0, NaN, 7, 0, -0, NaN, -0, NaN]);
    expect(Object.is(g[0], 0) && Object.is(g[2], -0) && Object.is(g[6], -0)).toBe(true);
  });

  it("runs as one kernel where tfjs runs Step, Cast and Multiply; none of them leak", async () => {
    const { x, dy } = reluCase(1000, 3);
    await useMode("wasm-blas");
    const xt = tf.tensor(x);
    const dyt = tf.tensor(dy);
    const grad = tf.grad((t: tf.Tensor) => tf.relu(t));
    grad(xt, dyt).dispose(); // warm-up
    const tensors = tf.memory().numTensors;
    const dataIds = tf.engine().backend.numDataIds();
    const p = await tf.profile(() => grad(xt, dyt).dispose());
    expect(kernelNames(p)).toContain(RELU_GRAD_KERNEL);
    expect(kernelNames(p)).not.toContain("Step");
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.engine().backend.numDataIds()).toBe(dataIds);
    removeKernelOverrides();
    const q = await tf.profile(() => grad(xt, dyt).dispose());
    expect(kernelNames(q)).toEqual(expect.arrayContaining(["Step", "Cast", "Multiply"]));
    expect(kernelNames(q)).not.toContain(RELU_GRAD_KERNEL);
    tf.dispose([xt, dyt]);
  });

  it("second order: the gradient of the gradient is tfjs's (d/d(dy) = step(x), d/dx = 0)", async () => {
    const { x, dy } = reluCase(37, 9);
    const w = randomData(37, 10);
    const secondOrder = () =>
      tf.tidy(() => {
        const xt = tf.tensor(x);
        const f = (d: tf.Tensor, t: tf.Tensor) => tf.sum(tf.mul(tf.grad((u: tf.Tensor) => tf.relu(u))(t, d), tf.tensor(w)));
        const [gDy, gX] = tf.grads(f)([tf.tensor(dy), xt]);
        return [gDy!.dataSync() as Float32Array, gX!.dataSync() as Float32Array];
      });
    await useMode("wasm-original");
    const [dyOriginal, xOriginal] = secondOrder();
    await useMode("wasm-blas");
    const [dyOverride, xOverride] = secondOrder();
    expectSameBits(dyOverride!, dyOriginal!, "d/d(dy)");
    expectSameBits(xOverride!, xOriginal!, "d/dx");
  });

  it("falls back to tfjs's gradient where the active backend lacks the kernel (cpu)", async () => {
    const { x, dy } = reluCase(50, 4);
    await useMode("wasm-original");
    const original = reluGradOf(x, dy, [50]);
    await useMode("wasm-blas");
    expect(activeKernelOverrides("wasm")).toContain("grad:Relu/MktReluGrad");
    await tf.setBackend("cpu"); // the gradient override stays registered: the gradient registry is global
    let cpu: Float32Array = new Float32Array(0);
    const p = await tf.profile(() => void (cpu = reluGradOf(x, dy, [50])));
    expect(kernelNames(p)).toContain("Step");
    expect(kernelNames(p)).not.toContain(RELU_GRAD_KERNEL);
    expectSameBits(cpu, original);
  });

  it("is registered and removed through the registry: removal puts tfjs's own gradient back", async () => {
    await useMode("wasm-original");
    const tfjsGradient = tf.getGradient(tf.Relu);
    expect(tf.getGradient(RELU_GRAD_KERNEL)).toBeUndefined();
    expect(kernelOverridesFor("wasm")).toEqual(expect.arrayContaining(["wasm:MktReluGrad/simd", "wasm:MktReluGradSum/simd", "grad:Relu/MktReluGrad"]));
    applyKernelOverrides("wasm");
    expect(activeKernelOverrides("wasm")).toEqual(expect.arrayContaining(["wasm:MktReluGrad/simd", "grad:Relu/MktReluGrad"]));
    const overridden = tf.getGradient(tf.Relu);
    expect(overridden).not.toBe(tfjsGradient);
    applyKernelOverrides("wasm");
    expect(tf.getGradient(tf.Relu)).toBe(overridden); // not wrapped twice
    expect(tf.getGradient(RELU_GRAD_KERNEL)).toBeDefined();
    expect(removeKernelOverrides((name) => name === "grad:Relu/MktReluGrad")).toEqual(["grad:Relu/MktReluGrad"]);
    expect(tf.getGradient(tf.Relu)).toBe(tfjsGradient);
    removeKernelOverrides();
    expect(tf.getKernel(RELU_GRAD_KERNEL, "wasm")).toBeUndefined();
    expect(tf.getGradient(RELU_GRAD_KERNEL)).toBeUndefined();
    expect(tf.getKernel(RELU_GRAD_SUM_KERNEL, "wasm")).toBeUndefined();
    expect(tf.getGradient(RELU_GRAD_SUM_KERNEL)).toBeUndefined();
    expect(activeKernelOverrides("wasm")).toEqual([]);
  });
});

describe("ReLU's gradient and its column sums in one pass (MktReluGradSum)", () => {
  for (const shape of [[1, 1], [7, 3], [12, 12], [1, 45, 19], [64, 83], [300, 17], [1024, 512]]) {
    it(`[${shape}]: the same bits as MktReluGrad, then the Sum override over every axis but the last`, async () => {
      const { x, dy } = reluCase(size(shape), 60 + shape.length);
      for (let i = 0; i < dy.length; i++) if (Number.isFinite(dy[i]!)) dy[i] = dy[i]! * 2 ** ((i % 17) - 8); // wide range: float32 sums would differ
      await useMode("wasm-blas");
      const tensors = tf.memory().numTensors;
      const [fusedOut, fusedSums, out, sums] = tf.tidy(() => {
        const [dyt, xt] = [tf.tensor(dy, shape), tf.tensor(x, shape)];
        const [o, s] = tf.engine().runKernel(RELU_GRAD_SUM_KERNEL, { dy: dyt, x: xt }) as tf.Tensor[];
        const g = tf.engine().runKernel(RELU_GRAD_KERNEL, { dy: dyt, x: xt }) as tf.Tensor;
        const axes = shape.slice(0, -1).map((_, i) => i);
        return [o!, s!, g, tf.sum(g, axes)].map((t) => t.dataSync() as Float32Array);
      });
      expect(tf.memory().numTensors).toBe(tensors);
      expectSameBits(fusedOut!, out!, "dy · step(x)");
      expectSameBits(fusedSums!, sums!, "column sums");
      const js = new Float32Array(x.length);
      reluGradJs(dy, x, js);
      const jsSums = new Float32Array(shape[shape.length - 1]!);
      sumRowsJs(js, jsSums, 1, x.length / jsSums.length, jsSums.length);
      expectSameBits(fusedSums!, jsSums, "column sums vs sumRowsJs");
    });
  }

  it("its gradient: d/d(dy) of both outputs, numerically equal to the tfjs ops' (zeros may differ in sign)", async () => {
    await useMode("wasm-blas");
    const shape = [9, 6];
    const { x, dy } = reluCase(54, 71);
    const [w1, w2] = [randomData(54, 72), randomData(6, 73)];
    const grad = (fused: boolean) =>
      tf.tidy(() => {
        const xt = tf.tensor(x, shape);
        const f = (d: tf.Tensor) => {
          const [o, s] = fused
            ? (tf.engine().runKernel(RELU_GRAD_SUM_KERNEL, { dy: d, x: xt }) as tf.Tensor[])
            : (() => {
                const g = tf.mul(d, tf.cast(tf.step(xt), "float32"));
                return [g, tf.sum(g, 0)];
              })();
          return tf.add(tf.sum(tf.mul(o!, tf.tensor(w1, shape))), tf.sum(tf.mul(s!, tf.tensor(w2))));
        };
        return tf.grad(f)(tf.tensor(dy, shape)).dataSync() as Float32Array;
      });
    const mine = grad(true);
    const ops = grad(false);
    for (let i = 0; i < mine.length; i++) {
      if (Number.isNaN(ops[i]!)) expect(Number.isNaN(mine[i]!)).toBe(true);
      else expect(Math.abs(mine[i]! - ops[i]!)).toBeLessThanOrEqual(1e-6 * (1 + Math.abs(ops[i]!)));
    }
  });
});

describe("Sum's column sums in SIMD (sum-simd.wat)", () => {
  it("is built with the other WAT modules", () => {
    expect(WAT_SOURCES).toEqual(expect.arrayContaining(["src/engine/kernels/relu-simd.wat", "src/engine/kernels/sum-simd.wat"]));
  });

  /** Values over 16 binary orders of magnitude, so that float32 and float64 running sums part. */
  function wideData(n: number, seed: number): Float32Array {
    const r = randomData(n, seed);
    const e = randomData(n, seed + 1);
    return r.map((v, i) => v * 2 ** Math.round(e[i]! * 8));
  }

  const cases: { shape: number[]; axis: number[] }[] = [
    { shape: [1024, 1], axis: [0] },
    { shape: [37, 23], axis: [0] },
    { shape: [300, 17], axis: [0] }, // 16 + 1 columns
    { shape: [64, 83], axis: [0] }, // 5 × 16 + 3: every path of the WAT, large block
    { shape: [1000, 5], axis: [0] }, // large block through the JS streaming loop
    { shape: [3, 40, 67], axis: [1] }, // several outer blocks
    { shape: [2, 17, 33, 6], axis: [1, 2] },
    { shape: [0, 5], axis: [0] }, // no rows: zeros
    { shape: [1024, 512], axis: [0] },
  ];
  for (const c of cases) {
    it(`[${c.shape}] over ${c.axis}: the same bits as the JS loop; float32 sums would differ`, async () => {
      const data = wideData(size(c.shape), 5 + c.shape.length);
      await useMode("wasm-blas");
      const sumKernel = tf.getKernel(tf.Sum, "wasm")!.kernelFunc;
      const backend = tf.backend();
      const tensors = tf.memory().numTensors;
      const run = (kernel: tf.KernelFunc) =>
        tf.tidy(() => {
          const x = tf.tensor(data, c.shape);
          const info = kernel({ inputs: { x }, backend, attrs: { axis: c.axis, keepDims: false } }) as tf.TensorInfo;
          return tf.engine().makeTensorFromTensorInfo(info).dataSync() as Float32Array;
        });
      const simd = run(sumKernel);
      const js = run(sumBlock(tf.getKernel(tf.Sum, "wasm")!.kernelFunc, false));
      expect(tf.memory().numTensors).toBe(tensors);
      expectSameBits(simd, js);
      // The same additions over plain arrays, and what a float32 running sum would give instead.
      const from = c.axis[0]!;
      const outer = size(c.shape.slice(0, from));
      const rows = size(c.shape.slice(from, from + c.axis.length));
      const width = size(c.shape.slice(from + c.axis.length));
      const direct = new Float32Array(outer * width);
      sumRowsJs(data, direct, outer, rows, width);
      expectSameBits(simd, direct);
      if (rows >= 30) {
        let differs = 0;
        for (let o = 0; o < outer; o++) {
          for (let col = 0; col < width; col++) {
            let f = 0;
            for (let r = 0; r < rows; r++) f = Math.fround(f + data[(o * rows + r) * width + col]!);
            if (f !== simd[o * width + col]) differs++;
          }
        }
        expect(differs).toBeGreaterThan(0);
      }
    });
  }

  it("agrees with tfjs's own Sum and the cpu backend's within 1e-6 of Σ|x|", async () => {
    const shape = [257, 131];
    const data = randomData(size(shape), 21);
    const results: Float32Array[] = [];
    for (const mode of ["wasm-blas", "wasm-original", "cpu"] as const) {
      await useMode(mode);
      results.push(tf.tidy(() => tf.sum(tf.tensor(data, shape), 0).dataSync() as Float32Array));
    }
    const scale = new Float32Array(shape[1]!);
    sumRowsJs(data.map(Math.abs), scale, 1, shape[0]!, shape[1]!);
    for (const other of results.slice(1)) {
      for (let i = 0; i < scale.length; i++) expect(Math.abs(results[0]![i]! - other[i]!)).toBeLessThanOrEqual(1e-6 * scale[i]!);
    }
  });
});

describe("Mean over leading axes in SIMD (meanRows, sum-simd.wat)", () => {
  const cases: { shape: number[]; axis: number[] }[] = [
    { shape: [1024, 256], axis: [0] }, // Dice's batch statistics
    { shape: [777, 36], axis: [0] }, // rows not a power of 2: the division rounds
    { shape: [300, 17], axis: [0] }, // 4 × 4 + 1 columns: the scalar tail
    { shape: [3, 40, 67], axis: [1] }, // several outer blocks
    { shape: [2, 17, 33, 6], axis: [1, 2] },
    { shape: [64, 83], axis: [1] }, // the innermost axis: tfjs's own kernel
  ];
  for (const c of cases) {
    it(`[${c.shape}] over ${c.axis}: the same bits as tfjs's own Mean, no tensor left`, async () => {
      const data = randomData(size(c.shape), 31 + c.shape[0]!).map((v, i) => v * 2 ** (i % 17));
      const mean = () => tf.tidy(() => tf.mean(tf.tensor(data, c.shape), c.axis).dataSync() as Float32Array);
      await useMode("wasm-original");
      const original = mean();
      await useMode("wasm-override");
      const tensors = tf.memory().numTensors;
      const overridden = mean();
      expect(tf.memory().numTensors).toBe(tensors);
      expectSameBits(overridden, original);
      // and what it computes: float32 column sums in row order, divided by the row count
      if (c.axis.at(-1)! < c.shape.length - 1) {
        const from = c.axis[0]!;
        const [outer, rows, width] = [size(c.shape.slice(0, from)), size(c.shape.slice(from, from + c.axis.length)), size(c.shape.slice(from + c.axis.length))];
        const direct = new Float32Array(outer * width);
        for (let o = 0; o < outer; o++) {
          for (let col = 0; col < width; col++) {
            let sum = 0;
            for (let r = 0; r < rows; r++) sum = Math.fround(sum + data[(o * rows + r) * width + col]!);
            direct[o * width + col] = Math.fround(sum / rows);
          }
        }
        expectSameBits(overridden, direct);
      }
    });
  }

  it("is registered with the other wasm overrides", () => {
    expect(kernelOverridesFor("wasm")).toContain("wasm:Mean/no-transpose");
  });
});

describe("Multiply, Add, Sub and RealDiv with a row or a column of values in SIMD (broadcast-simd.wat)", () => {
  const cases: { a: number[]; b: number[]; plan: string }[] = [
    { a: [1024, 20, 36], b: [36], plan: "row" }, // Dice's per-channel factor
    { a: [1, 36], b: [2048, 36], plan: "row" }, // the factors first
    { a: [2048, 36], b: [2048, 1], plan: "column" }, // a weight per row
    { a: [7, 1], b: [64, 7, 5], plan: "none" }, // repeated along the first and the last axis: tfjs's kernel
    { a: [33, 7, 3], b: [33, 1, 1], plan: "column" }, // 3 values per row: the scalar tail
    { a: [513, 5], b: [], plan: "column" }, // a scalar
    { a: [], b: [300, 7], plan: "column" }, // a scalar first (1 − α, 1 / x)
    { a: [96, 40], b: [96, 40], plan: "none" }, // equal shapes: tfjs's kernel
    { a: [64, 1, 16], b: [64, 20, 16], plan: "row" }, // a row of factors per block (DIN's query times its keys)
    { a: [5, 6, 7, 9], b: [5, 1, 1, 9], plan: "row" }, // two repeated axes between, 9 columns: the scalar tail
    { a: [16, 1], b: [1, 16], plan: "none" }, // both repeated (an outer product): tfjs's kernel
  ];
  const ops = { Multiply: tf.mul, Add: tf.add, Sub: tf.sub, RealDiv: tf.div } as const;
  for (const [kernel, op] of Object.entries(ops)) {
    for (const c of cases) {
      it(`${kernel} [${c.a}], [${c.b}]: the same bits as tfjs's own kernel (${c.plan})`, async () => {
        const x = randomData(size(c.a), 41).map((v, i) => v * 2 ** ((i % 13) - 6));
        const y = randomData(size(c.b), 43).map((v, i) => v * 2 ** ((i % 11) - 5));
        const run = () => tf.tidy(() => op(tf.tensor(x, c.a), tf.tensor(y, c.b)).dataSync() as Float32Array);
        await useMode("wasm-original");
        const original = run();
        await useMode("wasm-override");
        const tensors = tf.memory().numTensors;
        expectSameBits(run(), original);
        expect(tf.memory().numTensors).toBe(tensors);
        // The plan the override takes (none: tfjs's kernel runs).
        const shape = tf.backend_util.assertAndGetBroadcastShape(c.a, c.b);
        const full = (dims: number[]) => dims.length === shape.length && dims.every((d, i) => d === shape[i]);
        const repeated = full(c.a) && !full(c.b) ? c.b : full(c.b) && !full(c.a) ? c.a : undefined;
        expect((repeated && broadcastPlan(shape, repeated)?.mode) ?? "none").toBe(c.plan);
      });
    }
  }

  it("int32 operands and the gradient are tfjs's (d/da = dy · b through the same override)", async () => {
    await useMode("wasm-override");
    expect(Array.from(tf.tidy(() => tf.mul(tf.tensor([1, 2, 3, 4], [2, 2], "int32"), tf.tensor([3, -1], [2], "int32")).dataSync()))).toEqual([3, -2, 9, -4]);
    const x = tf.tensor(randomData(2048 * 36, 7), [2048, 36]);
    const f = tf.tensor(randomData(36, 8), [36]);
    const [dx, df] = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(p, q)))([x, f]);
    expectSameBits(dx!.dataSync() as Float32Array, tf.tidy(() => tf.mul(tf.onesLike(x), f).dataSync() as Float32Array));
    expect(df!.shape).toEqual([36]);
    tf.dispose([x, f, dx!, df!]);
  });

  it("is registered with the other wasm overrides", () => {
    for (const kernel of ["Multiply", "Add", "Sub", "RealDiv"]) expect(kernelOverridesFor("wasm")).toContain(`wasm:${kernel}/broadcast-simd`);
  });
});

describe("Dense with the bias fused into the matmul", () => {
  const [n, inputs, units] = [45, 33, 19];
  const x = randomData(n * inputs, 31);
  const w = randomData(inputs * units, 32);
  const b = randomData(units, 33);
  const dy = randomData(n * units, 34);

  /** Output and gradients (x, kernel, bias) of relu(x W + b), through dense() or matMul + add + relu. */
  function run(fused: boolean): Float32Array[] {
    return tf.tidy(() => {
      const f = (xt: tf.Tensor, wt: tf.Tensor, bt: tf.Tensor) =>
        fused ? dense(xt as tf.Tensor2D, wt as tf.Tensor2D, bt, "relu") : tf.relu(tf.add(tf.matMul(xt as tf.Tensor2D, wt as tf.Tensor2D), bt));
      const args = [tf.tensor2d(x, [n, inputs]), tf.tensor2d(w, [inputs, units]), tf.tensor1d(b)];
      const { value, grads } = tf.valueAndGrads(f)(args, tf.tensor2d(dy, [n, units]));
      return [value, ...grads].map((t) => t.dataSync() as Float32Array);
    });
  }

  for (const mode of ["wasm-blas", "wasm-original", "cpu"] as const) {
    it.skipIf(mode === "wasm-blas" && !blasState.blas)(`${mode}: the same output and gradients as matMul + add + relu (within rounding), no leaks${mode === "wasm-blas" ? withBlas : ""}`, async () => {
      await useMode(mode);
      // tfjs's IS_TEST leak check counts the copies tfjs-backend-wasm's own Identity makes of a
      // custom-gradient op's saved inputs (fused.matMul is one) as leaks: without mkt's Identity
      // override it throws on any fused.matMul under tf.grads. Counted here instead.
      tf.env().set("IS_TEST", mode !== "wasm-original");
      const tensors = tf.memory().numTensors;
      const dataIds = tf.engine().backend.numDataIds();
      const fused = run(true);
      const unfused = run(false);
      expect(tf.memory().numTensors).toBe(tensors);
      expect(tf.engine().backend.numDataIds()).toBe(dataIds);
      tf.env().set("IS_TEST", true);
      fused.forEach((f, i) => expect(maxDiff(f, unfused[i]!), ["y", "dx", "dW", "db"][i]).toBeLessThan(1e-5));
      // With OpenBLAS the fused kernel adds the bias after the product, as Add does: the same bits.
      if (mode === "wasm-blas") fused.forEach((f, i) => expectSameBits(f, unfused[i]!, ["y", "dx", "dW", "db"][i]));
      // The bias gradient is the batch sum of dy where the unit is active: not zero.
      expect(fused[3]!.some((v) => v !== 0)).toBe(true);
    });
  }

  for (const activation of ["linear", "relu"] as const) {
    for (const [transposeA, transposeB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
      it(`the kernel's gradient (${activation}, transposeA ${transposeA}, transposeB ${transposeB}) = tfjs's fused.matMul (then tf.relu) gradients, bit for bit`, async () => {
        await useMode("wasm-blas");
        const [m, k, u] = [13, 9, 6];
        const aData = randomData(m * k, 41);
        const bData = randomData(k * u, 42);
        const grads = (direct: boolean) =>
          tf.tidy(() => {
            const a = tf.tensor3d(aData, transposeA ? [1, k, m] : [1, m, k]);
            const b = tf.tensor3d(bData, transposeB ? [1, u, k] : [1, k, u]);
            const bias = tf.tensor1d(randomData(u, 43));
            const f = (at: tf.Tensor, bt: tf.Tensor, ct: tf.Tensor) => {
              if (direct) return tf.engine().runKernel(tf._FusedMatMul, { a: at, b: bt, bias: ct }, { transposeA, transposeB, activation, leakyreluAlpha: 0 }) as tf.Tensor;
              const y = tf.fused.matMul({ a: at as tf.Tensor3D, b: bt as tf.Tensor3D, bias: ct, transposeA, transposeB });
              return activation === "relu" ? tf.relu(y) : y;
            };
            const { value, grads } = tf.valueAndGrads(f)([a, b, bias], tf.tensor3d(randomData(m * u, 44), [1, m, u]));
            return [value, ...grads].map((g) => g.dataSync() as Float32Array);
          });
        const mine = grads(true);
        const tfjs = grads(false);
        expect(mine[0]!.some((v) => v === 0) && mine[0]!.some((v) => v > 0)).toBe(activation === "relu");
        mine.forEach((g, i) => expectSameBits(g, tfjs[i]!, ["y", "da", "db", "dbias"][i]));
      });
    }
  }

  it.skipIf(!blasState.blas)(`the OpenBLAS _FusedMatMul's bias and ReLU pass gives the bits of the Add and Relu kernels (−0, NaN, sizes not multiple of 4)${withBlas}`, async () => {
    await useMode("wasm-blas");
    for (const [m, k, u] of [[5, 3, 7], [9, 4, 13], [1, 2, 3], [64, 33, 67]] as const) {
      const aData = randomData(m * k, 51 + m);
      aData[0] = NaN; // a NaN row of the output
      if (m > 1) aData.fill(0, k, 2 * k); // a zero row: 0·b + (−bias) gives −0 and negatives
      const bias = randomData(u, 52).map((v, i) => (i % 3 === 0 ? -0 : v));
      const [fused, separate] = tf.tidy(() => {
        const a = tf.tensor3d(aData, [1, m, k]);
        const b = tf.tensor3d(randomData(k * u, 53), [1, k, u]);
        const c = tf.tensor1d(bias);
        const attrs = { transposeA: false, transposeB: false, leakyreluAlpha: 0 };
        const run = (activation: string, bias?: tf.Tensor) => (tf.engine().runKernel(tf._FusedMatMul, bias ? { a, b, bias } : { a, b }, { ...attrs, activation }) as tf.Tensor).dataSync() as Float32Array;
        const product = tf.engine().runKernel(tf._FusedMatMul, { a, b }, { ...attrs, activation: "linear" }) as tf.Tensor;
        const plus = tf.add(product, c);
        return [
          [run("relu", c), run("linear", c), run("relu")],
          [tf.relu(plus).dataSync() as Float32Array, plus.dataSync() as Float32Array, tf.relu(product).dataSync() as Float32Array],
        ];
      });
      expect(fused[0]!.some((v) => Number.isNaN(v))).toBe(true);
      fused.forEach((f, i) => expectSameBits(f, separate[i]!, `[${m}, ${k}, ${u}] ${["bias+relu", "bias", "relu"][i]}`));
    }
  });

  it("wasm with OpenBLAS: one _FusedMatMul forward, no Add, Relu, Step or Multiply in the step", async () => {
    await useMode("wasm-blas");
    const p = await tf.profile(() => run(true));
    const names = kernelNames(p);
    expect(names).toContain("_FusedMatMul");
    expect(names).toContain(RELU_GRAD_SUM_KERNEL); // ReLU backward and the bias gradient in one pass
    for (const k of ["Add", "Relu", "Step", "Cast", "Multiply"]) expect(names).not.toContain(k);
  });
});
