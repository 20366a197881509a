import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../src/engine/backend.ts";
import { removeKernelOverrides } from "../src/engine/kernels/registry.ts";
import { smallBatchedMatMul } from "../src/engine/kernels/small-batched-matmul.ts";
import { maxDiff, randomData, size, useMode } from "./helpers/kernel-modes.ts";

/**
 * The SIMD kernel for batches of small products (bmm-simd.wat through small-batched-matmul.ts),
 * against a float64 product written out here, against tfjs-backend-wasm's own kernel, and in
 * gradients. The kernel alone is called with a fallback that fails, so every case below is known
 * to run in SIMD.
 */

const transposed = (shape: number[], t: boolean) => (t ? [...shape.slice(0, -2), shape[shape.length - 1]!, shape[shape.length - 2]!] : shape);

/** out[i] = op(a[i]) · op(b[i]) in float64; a one-matrix side serves every i. */
function reference(a: Float32Array, aShape: number[], b: Float32Array, bShape: number[], ta: boolean, tb: boolean): Float32Array {
  const [ra, ca] = aShape.slice(-2) as [number, number];
  const [rb, cb] = bShape.slice(-2) as [number, number];
  const m = ta ? ca : ra;
  const k = ta ? ra : ca;
  const n = tb ? rb : cb;
  const batchA = size(aShape.slice(0, -2));
  const batchB = size(bShape.slice(0, -2));
  const batch = Math.max(batchA, batchB);
  const out = new Float32Array(batch * m * n);
  for (let i = 0; i < batch; i++) {
    const ao = (batchA === 1 ? 0 : i) * m * k;
    const bo = (batchB === 1 ? 0 : i) * k * n;
    for (let r = 0; r < m; r++) {
      for (let c = 0; c < n; c++) {
        let s = 0;
        for (let t = 0; t < k; t++) s += a[ao + (ta ? t * m + r : r * k + t)]! * b[bo + (tb ? c * k + t : t * n + c)]!;
        out[i * m * n + r * n + c] = s;
      }
    }
  }
  return out;
}

const refuse: tf.KernelFunc = () => {
  throw new Error("the fallback ran: the case was not taken by the SIMD kernel");
};

beforeAll(async () => {
  await selectBackend("wasm");
  tf.env().set("IS_TEST", true); // the engine throws on data ids a kernel leaks
});
afterAll(() => {
  removeKernelOverrides();
});

describe("batches of small products in SIMD (bmm-simd.wat)", () => {
  // n mod 4 and k mod 4 tails, m = 1 rows, outer products (k = 1), broadcast one-matrix sides.
  const cases: { label: string; a: number[]; b: number[]; out: number[] }[] = [
    { label: "gate mixing", a: [7, 1, 3], b: [7, 3, 1024], out: [7, 1, 1024] },
    { label: "attention pooling, n and k not multiples of 4", a: [9, 1, 21], b: [9, 21, 23], out: [9, 1, 23] },
    { label: "outer products (k = 1)", a: [5, 19, 1], b: [5, 1, 22], out: [5, 19, 22] },
    { label: "square", a: [4, 16, 16], b: [4, 16, 16], out: [4, 16, 16] },
    { label: "one matrix on the right", a: [6, 5, 7], b: [7, 9], out: [6, 5, 9] },
    { label: "one matrix on the left", a: [1, 5, 7], b: [6, 7, 9], out: [6, 5, 9] },
    { label: "4-D", a: [2, 3, 4, 5], b: [2, 3, 5, 6], out: [2, 3, 4, 6] },
  ];
  for (const c of cases) {
    for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]] as const) {
      it(`${c.label}, transposeA=${ta}, transposeB=${tb}: = the float64 product and = wasm's own kernel`, async () => {
        const aShape = transposed(c.a, ta);
        const bShape = transposed(c.b, tb);
        const aData = randomData(size(aShape), 3);
        const bData = randomData(size(bShape), 4);
        const expected = reference(aData, aShape, bData, bShape, ta, tb);

        await useMode("wasm-original");
        const backend = tf.engine().backend;
        const a = tf.tensor(aData, aShape);
        const b = tf.tensor(bData, bShape);
        const args = { inputs: { a, b }, backend, attrs: { transposeA: ta, transposeB: tb } } as unknown as Parameters<tf.KernelFunc>[0];
        const info = smallBatchedMatMul(refuse, Infinity)(args) as tf.TensorInfo;
        const simd = tf.engine().makeTensorFromTensorInfo(info);
        const wasm = tf.matMul(a, b, ta, tb); // tfjs-backend-wasm's own kernel (no overrides)
        expect(simd.shape).toEqual(c.out);
        const got = (await simd.data()) as Float32Array;
        expect(maxDiff(got, expected)).toBeLessThan(2e-6);
        expect(maxDiff(got, (await wasm.data()) as Float32Array)).toBeLessThan(2e-6);
        tf.dispose([a, b, simd, wasm]);
      });
    }
  }

  it("writes zeros for an empty sum (k = 0) in memory that held other values", async () => {
    await useMode("wasm-original");
    const backend = tf.engine().backend;
    const filler = tf.fill([3 * 4 * 5], 7);
    await filler.data();
    filler.dispose(); // its heap bytes are free for the next output
    const a = tf.zeros([3, 4, 0]);
    const b = tf.zeros([3, 0, 5]);
    const args = { inputs: { a, b }, backend, attrs: { transposeA: false, transposeB: false } } as unknown as Parameters<tf.KernelFunc>[0];
    const out = tf.engine().makeTensorFromTensorInfo(smallBatchedMatMul(refuse, Infinity)(args) as tf.TensorInfo);
    expect(Array.from(await out.data())).toEqual(new Array(60).fill(0));
    tf.dispose([a, b, out]);
  });

  it("leaves single matrices and matrices over the threshold to the fallback", async () => {
    await useMode("wasm-original");
    const backend = tf.engine().backend;
    let fallbacks = 0;
    const counting: tf.KernelFunc = (args) => (fallbacks++, tf.getKernel(tf.BatchMatMul, "wasm")!.kernelFunc(args));
    const kernel = smallBatchedMatMul(counting, 8_192);
    for (const [aShape, bShape, taken] of [
      [[1, 8, 8], [1, 8, 8], false], // one matrix
      [[3, 16, 32], [3, 32, 16], true], // 8,192 per matrix
      [[3, 20, 20], [3, 20, 21], false], // 8,400 per matrix
    ] as [number[], number[], boolean][]) {
      const a = tf.ones(aShape);
      const b = tf.ones(bShape);
      const before = fallbacks;
      const info = kernel({ inputs: { a, b }, backend, attrs: { transposeA: false, transposeB: false } } as unknown as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
      expect(fallbacks - before).toBe(taken ? 0 : 1);
      backend.disposeData(info.dataId);
      tf.dispose([a, b]);
    }
  });

  it("gives DIN-style attention pooling the gradients of the unpatched kernels", async () => {
    const weights = randomData(6 * 20, 5);
    const values = randomData(6 * 20 * 24, 6);
    const upstream = randomData(6 * 24, 7);
    const grads: Record<string, Float32Array[]> = {};
    for (const mode of ["wasm-original", "wasm-override", "wasm-blas", "cpu"] as const) {
      await useMode(mode);
      const w = tf.tensor(weights, [6, 20]);
      const v = tf.tensor(values, [6, 20, 24]);
      const g = tf.tensor(upstream, [6, 24]);
      const pooled = (wt: tf.Tensor, vt: tf.Tensor) => tf.sum(tf.mul(tf.matMul(wt.expandDims(1) as tf.Tensor3D, vt as tf.Tensor3D).squeeze([1]), g));
      const [dw, dv] = tf.grads(pooled)([w, v]);
      grads[mode] = [(await dw!.data()) as Float32Array, (await dv!.data()) as Float32Array];
      tf.dispose([w, v, g, dw!, dv!]);
    }
    for (const mode of ["wasm-override", "wasm-blas", "cpu"]) {
      expect(maxDiff(grads[mode]![0]!, grads["wasm-original"]![0]!)).toBeLessThan(2e-6);
      expect(maxDiff(grads[mode]![1]!, grads["wasm-original"]![1]!)).toBeLessThan(2e-6);
    }
  });
});
