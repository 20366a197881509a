/**
 * The dense-layer kernels of the training step side by side, on the shapes of the dense MLP
 * 1024 → [1024, 512, 64, 1] at batch 1024 (benchmarks/dense-mlp.ts), alternating variants every
 * round in one process so drift on a shared machine hits them alike:
 *   Sum over the batch (the four bias gradients, [1024, n] → [n]):
 *     sum-simd  the registered wasm:Sum/no-transpose (sum-simd.wat, f64x2 accumulators)
 *     sum-js    the same override's JS loop (sumRowsJs, its kernel before sum-simd.wat)
 *   ReLU's gradient (the three hidden activations, [1024, n]):
 *     relu-grad MktReluGrad (relu-simd.wat), one pass
 *     relu-ops  tfjs's gradient: mul(dy, cast(step(x), 'float32')), three kernels
 * Figures: median ms for all the shapes of a group, per variant.
 *
 * Then whole training steps of that MLP (benchmarks/dense-mlp.ts's trainer, Adam included), each
 * change alone undone, alternating the same way:
 *   after        everything: Dense's fused bias, MktReluGrad, the SIMD Sum
 *   unfused      matMul + add + relu as separate ops (Dense before the fused bias)
 *   no-relu-grad tfjs's Relu gradient (grad:Relu/MktReluGrad and its kernel removed)
 *   sum-js       the Sum override's JS loop in place of sum-simd.wat
 *   no-grad-sum  MktReluGrad then Sum for a Dense layer's ReLU backward and bias gradient (wasm:MktReluGradSum/simd removed)
 *   before       all three undone (the code before these changes)
 * Figures: median ms per step and samples/s per variant.
 *
 * Usage: npx tsx benchmarks/dense-kernels.ts [rounds=7] [reps=10] [--steps 5] [--step-rounds 6]
 */
import * as tf from "@tensorflow/tfjs";
import { parseArgs } from "node:util";
import { selectBackend } from "../src/engine/backend.ts";
import { applyKernelOverrides, removeKernelOverrides } from "../src/engine/kernels/registry.ts";
import { createDenseMlpTrainer, makeBatches, type DenseMlpTrainer } from "./dense-mlp.ts";
import { RELU_GRAD_KERNEL, RELU_GRAD_SUM_KERNEL } from "../src/engine/kernels/relu-grad.ts";
import { sumBlock } from "../src/engine/kernels/wasm-sum.ts";
import { median } from "./stats.ts";

const { values: args, positionals } = parseArgs({ allowPositionals: true, options: { steps: { type: "string", default: "5" }, "step-rounds": { type: "string", default: "6" } } });
const rounds = Number(positionals[0] ?? 7);
const reps = Number(positionals[1] ?? 10);
const batch = 1024;
const widths = [1024, 512, 64, 1];

await selectBackend("wasm");
const original = tf.getKernel(tf.Sum, "wasm");
if (original === undefined || tf.getKernel(RELU_GRAD_KERNEL, "wasm") === undefined) throw new Error("the wasm overrides are not registered");
const backend = tf.backend();
const sumJs = sumBlock(original.kernelFunc, false);
const sumSimd = original.kernelFunc; // the registered override (SIMD)

const dys = widths.map((n, i) => tf.randomUniform([batch, n], -1, 1, "float32", 1 + i));
const xs = widths.map((n, i) => tf.randomUniform([batch, n], -1, 1, "float32", 11 + i));

const variants: Record<string, () => void> = {
  "sum-simd": () => {
    for (const dy of dys) backend.disposeData((sumSimd({ inputs: { x: dy }, backend, attrs: { axis: [0], keepDims: false } }) as tf.TensorInfo).dataId);
  },
  "sum-js": () => {
    for (const dy of dys) backend.disposeData((sumJs({ inputs: { x: dy }, backend, attrs: { axis: [0], keepDims: false } }) as tf.TensorInfo).dataId);
  },
  "relu-grad": () => {
    for (let i = 0; i < 3; i++) tf.engine().runKernel(RELU_GRAD_KERNEL, { dy: dys[i]!, x: xs[i]! }) && undefined;
  },
  "relu-ops": () => {
    for (let i = 0; i < 3; i++) tf.mul(dys[i]!, tf.cast(tf.step(xs[i]!), "float32"));
  },
};
const times: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? Object.keys(variants) : Object.keys(variants).reverse();
  for (const name of order) {
    for (let k = 0; k < reps; k++) {
      tf.tidy(() => {
        const t0 = performance.now();
        variants[name]!();
        times[name]!.push(performance.now() - t0);
      });
    }
  }
}
tf.dispose([...dys, ...xs]);
const kernelMs = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, Number(median(v).toFixed(3))]));
console.error("kernels", JSON.stringify(kernelMs));

// Whole training steps.
const batches = makeBatches({ batch, inputWidth: 1024, count: 4, seed: 1 });
const config = { batch, inputWidth: 1024, layers: [1024, 512, 64, 1], seed: 1 };
const trainers: Record<"dense" | "unfused", DenseMlpTrainer> = {
  dense: createDenseMlpTrainer(config, batches),
  unfused: createDenseMlpTrainer({ ...config, layer: "unfused" }, batches),
};
const SUM = "wasm:Sum/no-transpose";
const RELU = (name: string) => name === "grad:Relu/MktReluGrad" || name === `wasm:${RELU_GRAD_KERNEL}/simd` || name === `wasm:${RELU_GRAD_SUM_KERNEL}/simd`;
/** Every override, then the named changes undone. */
function configure(undo: { sumJs?: boolean; reluGrad?: boolean; gradSum?: boolean }): void {
  if (tf.getKernel(tf.Sum, "wasm")?.kernelFunc === sumJsKernel) tf.unregisterKernel(tf.Sum, "wasm");
  if (tf.getKernel(tf.Sum, "wasm") === undefined) tf.registerKernel(tfjsSum);
  applyKernelOverrides("wasm");
  if (undo.reluGrad) removeKernelOverrides(RELU);
  if (undo.gradSum) removeKernelOverrides((name) => name === `wasm:${RELU_GRAD_SUM_KERNEL}/simd`);
  if (undo.sumJs) {
    removeKernelOverrides((name) => name === SUM);
    tf.unregisterKernel(tf.Sum, "wasm");
    tf.registerKernel({ ...tfjsSum, kernelFunc: sumJsKernel });
  }
}
removeKernelOverrides((name) => name === SUM);
const tfjsSum = tf.getKernel(tf.Sum, "wasm")!;
const sumJsKernel = sumBlock(tfjsSum.kernelFunc, false);
applyKernelOverrides("wasm");
const stepVariants: Record<string, { layer: "dense" | "unfused"; undo: { sumJs?: boolean; reluGrad?: boolean; gradSum?: boolean } }> = {
  after: { layer: "dense", undo: {} },
  "no-grad-sum": { layer: "dense", undo: { gradSum: true } },
  unfused: { layer: "unfused", undo: {} },
  "no-relu-grad": { layer: "dense", undo: { reluGrad: true } },
  "sum-js": { layer: "dense", undo: { sumJs: true } },
  before: { layer: "unfused", undo: { reluGrad: true, sumJs: true } },
};
const steps = Number(args.steps);
const stepTimes: Record<string, number[]> = Object.fromEntries(Object.keys(stepVariants).map((k) => [k, []]));
for (let r = 0; r < Number(args["step-rounds"]); r++) {
  const order = r % 2 === 0 ? Object.keys(stepVariants) : Object.keys(stepVariants).reverse();
  for (const name of order) {
    const v = stepVariants[name]!;
    configure(v.undo);
    const trainer = trainers[v.layer];
    trainer.step(0); // untimed after the switch
    for (let s = 0; s < steps; s++) {
      const t0 = performance.now();
      trainer.step(s);
      stepTimes[name]!.push(performance.now() - t0);
    }
  }
}
configure({});
const numTensors = tf.memory().numTensors;
for (const t of Object.values(trainers)) t.dispose();
const stepMs = Object.fromEntries(Object.entries(stepTimes).map(([k, v]) => [k, Number(median(v).toFixed(2))]));
console.log(
  JSON.stringify(
    {
      batch,
      widths,
      kernels: { rounds, reps, ms: kernelMs },
      steps: { rounds: Number(args["step-rounds"]), steps, medianMs: stepMs, samplesPerSec: Object.fromEntries(Object.entries(stepMs).map(([k, ms]) => [k, Math.round((batch * 1000) / ms)])) },
      numTensorsBeforeDispose: numTensors,
    },
    null,
    1,
  ),
);
