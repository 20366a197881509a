import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../src/engine/backend.ts";
import { removeKernelOverrides } from "../src/engine/kernels/registry.ts";
import { Dice } from "../src/layers/dice.ts";
import { ParamInit } from "../src/layers/params.ts";
import { mulberry32 } from "../src/util/random.ts";
import { countKernelCalls, useMode, type Mode } from "./helpers/kernel-modes.ts";

/**
 * Dice in training mode on mkt's kernels (MktDice, MktDiceGrad: dice-kernel.ts, dice-simd.wat)
 * against (1) Dice written out here in float64, its gradient by central differences, and (2) the
 * layer's own tfjs ops (wasm without mkt's kernels, and the cpu backend), whose gradient tfjs
 * derives itself. Prediction (moving moments) never runs the kernels, so exports need none.
 */

beforeAll(async () => {
  await selectBackend("wasm");
});
afterAll(() => {
  removeKernelOverrides();
});

interface Case {
  rows: number;
  n: number;
  /** Row weights (1 real, 0 padding), or none (every row counts). */
  weights?: number[];
  x: Float64Array;
  alpha: Float64Array;
  /** ∂L/∂y: the loss is Σ y·r. */
  r: Float64Array;
}

function makeCase(rows: number, n: number, seed: number, weighting: "none" | "mask" | "empty"): Case {
  const u = mulberry32(seed);
  const values = (k: number, scale: number, shift = 0) => Float64Array.from({ length: k }, () => Math.fround(shift + scale * (u() * 2 - 1)));
  const weights = weighting === "none" ? undefined : Array.from({ length: rows }, (_, i) => (weighting === "empty" ? 0 : i % 3 === 1 || u() < 0.3 ? 0 : 1));
  return { rows, n, ...(weights ? { weights } : {}), x: values(rows * n, 2, 0.4), alpha: values(n, 0.5), r: values(rows * n, 1) };
}

/** Σ y·r for Dice in training mode, in float64 (DIN paper §5.2, batch moments over the weighted rows). */
function loss64(c: Case, x: Float64Array, alpha: Float64Array, epsilon = 1e-8): { loss: number; y: Float64Array; mean: Float64Array; variance: Float64Array } {
  const { rows, n } = c;
  const w = (r: number) => c.weights?.[r] ?? 1;
  let count = 0;
  for (let r = 0; r < rows; r++) count += w(r);
  count = Math.max(count, 1);
  const mean = new Float64Array(n);
  const variance = new Float64Array(n);
  for (let r = 0; r < rows; r++) for (let k = 0; k < n; k++) mean[k]! += (w(r) * x[r * n + k]!) / count;
  for (let r = 0; r < rows; r++) for (let k = 0; k < n; k++) variance[k]! += (w(r) * (x[r * n + k]! - mean[k]!) ** 2) / count;
  const y = new Float64Array(rows * n);
  let loss = 0;
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < n; k++) {
      const v = x[r * n + k]!;
      const p = 1 / (1 + Math.exp(-(v - mean[k]!) / Math.sqrt(variance[k]! + epsilon)));
      y[r * n + k] = v * (alpha[k]! + p * (1 - alpha[k]!));
      loss += y[r * n + k]! * c.r[r * n + k]!;
    }
  }
  return { loss, y, mean, variance };
}

/** ∂(Σ y·r)/∂v for every entry of `values` (x or α), by central differences in float64. */
function numericGradient(c: Case, which: "x" | "alpha"): Float64Array {
  const base = which === "x" ? c.x : c.alpha;
  const grad = new Float64Array(base.length);
  for (let i = 0; i < base.length; i++) {
    const h = 1e-5 * Math.max(1, Math.abs(base[i]!));
    const at = (d: number) => {
      const v = Float64Array.from(base);
      v[i]! += d;
      return which === "x" ? loss64(c, v, c.alpha).loss : loss64(c, c.x, v).loss;
    };
    grad[i] = (at(h) - at(-h)) / (2 * h);
  }
  return grad;
}

interface Result {
  y: Float32Array;
  dx: Float32Array;
  dalpha: Float32Array;
  movingMean: Float32Array;
  movingVariance: Float32Array;
  diceKernelCalls: number;
}

/** One training-mode forward and backward of a fresh Dice layer in the current mode, counting MktDice calls. */
function runDice(c: Case): Result {
  const { result, calls } = countKernelCalls("MktDice", () => {
    const dice = new Dice("dice", new ParamInit(1), { size: c.n });
    dice.alpha.assign(tf.tensor1d(Float32Array.from(c.alpha)));
    const x = tf.variable(tf.tensor2d(Float32Array.from(c.x), [c.rows, c.n]));
    const r = tf.tensor2d(Float32Array.from(c.r), [c.rows, c.n]);
    const mask = c.weights ? tf.tensor1d(c.weights) : undefined;
    const context = { mode: "train" as const, ...(mask ? { mask } : {}) };
    let y: Float32Array = new Float32Array();
    const { grads } = tf.variableGrads(() => {
      const out = dice.apply(x, context);
      y = out.dataSync() as Float32Array;
      return tf.sum(tf.mul(out, r)) as tf.Scalar;
    }, [x, dice.alpha]);
    const values = {
      y,
      dx: grads[x.name]!.dataSync() as Float32Array,
      dalpha: grads[dice.alpha.name]!.dataSync() as Float32Array,
      movingMean: dice.moments.mean.dataSync() as Float32Array,
      movingVariance: dice.moments.variance.dataSync() as Float32Array,
    };
    tf.dispose([...Object.values(grads), x, r, ...(mask ? [mask] : [])]);
    dice.dispose();
    return values;
  });
  return { ...result, diceKernelCalls: calls };
}

/** Largest |a − b| / (scale + |b|). */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>, scale: number): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!) / (scale + Math.abs(b[i]!)));
  return m;
}

const CASES: { label: string; c: Case }[] = [
  { label: "[7, 4], every row counts", c: makeCase(7, 4, 1, "none") },
  { label: "[9, 8], masked rows", c: makeCase(9, 8, 2, "mask") },
  { label: "[12, 12], every row masked out (moments 0)", c: makeCase(12, 12, 3, "empty") },
];

describe("Dice on mkt's kernels (MktDice, MktDiceGrad)", () => {
  for (const { label, c } of CASES) {
    it(`${label}: output and gradients as Dice in float64 (gradients by central differences), moving moments moved`, async () => {
      await useMode("wasm-override");
      const fused = runDice(c);
      expect(fused.diceKernelCalls).toBe(1);
      const reference = loss64(c, c.x, c.alpha);
      expect(relativeError(fused.y, reference.y, 1)).toBeLessThan(2e-6);
      expect(relativeError(fused.dx, numericGradient(c, "x"), 1)).toBeLessThan(1e-4);
      expect(relativeError(fused.dalpha, numericGradient(c, "alpha"), 1)).toBeLessThan(1e-4);
      // momentum 0.9 from 0 and 1
      expect(relativeError(fused.movingMean, Array.from(reference.mean, (m) => 0.1 * m), 1)).toBeLessThan(1e-6);
      expect(relativeError(fused.movingVariance, Array.from(reference.variance, (v) => 0.9 + 0.1 * v), 1)).toBeLessThan(1e-6);
    });
  }

  it("agrees with the layer's tfjs ops (wasm without mkt's kernels, cpu) on [2048, 36] and [256, 256], masked", async () => {
    for (const [rows, n, seed] of [[2048, 36, 4], [256, 256, 5]] as const) {
      const c = makeCase(rows, n, seed, "mask");
      const results: Partial<Record<Mode, Result>> = {};
      for (const mode of ["wasm-override", "wasm-original", "cpu"] as const) {
        await useMode(mode);
        results[mode] = runDice(c);
      }
      expect(results["wasm-override"]!.diceKernelCalls).toBe(1);
      expect(results["wasm-original"]!.diceKernelCalls).toBe(0);
      for (const other of ["wasm-original", "cpu"] as const) {
        for (const key of ["y", "dx", "dalpha", "movingMean", "movingVariance"] as const) {
          // dalpha sums rows·n terms: relative to its scale
          const scale = key === "dalpha" ? 10 : 1;
          expect(relativeError(results["wasm-override"]![key], results[other]![key], scale), `${key} vs ${other}`).toBeLessThan(1e-5);
        }
      }
    }
  });

  it("runs tfjs ops where the kernels do not apply: channels not a multiple of 4, and prediction", async () => {
    await useMode("wasm-override");
    const c = makeCase(6, 5, 6, "mask");
    const odd = runDice(c);
    expect(odd.diceKernelCalls).toBe(0);
    expect(relativeError(odd.y, loss64(c, c.x, c.alpha).y, 1)).toBeLessThan(2e-6);
    expect(relativeError(odd.dx, numericGradient(c, "x"), 1)).toBeLessThan(1e-4);

    const dice = new Dice("dice", new ParamInit(1), { size: 8 });
    const { calls } = countKernelCalls("MktDice", () => tf.tidy(() => dice.apply(tf.ones([4, 8]), { mode: "predict" }).dataSync()));
    expect(calls).toBe(0);
    dice.dispose();
  });

  it("leaks no tensor over training steps", async () => {
    await useMode("wasm-override");
    const c = makeCase(64, 16, 7, "mask");
    const dice = new Dice("dice", new ParamInit(1), { size: c.n });
    const x = tf.variable(tf.tensor2d(Float32Array.from(c.x), [c.rows, c.n]));
    const mask = tf.tensor1d(c.weights!);
    const step = () => tf.tidy(() => void tf.variableGrads(() => tf.sum(dice.apply(x, { mode: "train", mask })) as tf.Scalar, [x, dice.alpha]));
    step();
    const tensors = tf.memory().numTensors;
    const buffers = tf.engine().backend.numDataIds();
    for (let i = 0; i < 5; i++) step();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.engine().backend.numDataIds()).toBe(buffers);
    tf.dispose([x, mask]);
    dice.dispose();
  });
});
