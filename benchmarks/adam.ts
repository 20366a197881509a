/**
 * The wasm Adam kernels side by side on the dense MLP of benchmarks/dense-mlp.ts (default input
 * 1024, layers [1024, 512, 64, 1]: 1.6M parameters, batch 1024), alternating variants every round
 * in one process so drift on a shared machine hits them alike:
 *   simd      the registered kernel (adam-simd.wat, three new outputs)
 *   js        the earlier kernel: adamUpdate's JS loop over heap views, three new outputs
 *   ops       no kernel: src/train/adam.ts's tfjs-ops fallback (as under --no-kernel-overrides)
 * Figures per variant: median ms of one Adam step over all the MLP's variables (applyGradients on
 * fixed gradients) and median ms of a whole training step (forward, backward, Adam) → samples/s.
 *
 * Usage: npx tsx benchmarks/adam.ts [rounds=5] [steps=6] [--variants simd,js,ops]
 */
import * as tf from "@tensorflow/tfjs";
import { parseArgs } from "node:util";
import { selectBackend } from "../src/engine/backend.ts";
import { ADAM_KERNEL, wasmAdamJs } from "../src/engine/kernels/adam-kernel.ts";
import { Adam } from "../src/train/adam.ts";
import { createDenseMlpTrainer, makeBatches } from "./dense-mlp.ts";
import { median } from "./stats.ts";

const { values: args, positionals } = parseArgs({ allowPositionals: true, options: { variants: { type: "string", default: "simd,js,ops" } } });
const rounds = Number(positionals[0] ?? 5);
const steps = Number(positionals[1] ?? 6);
const batch = 1024;
const inputWidth = 1024;
const layers = [1024, 512, 64, 1];

const info = await selectBackend("wasm");
const simd = tf.getKernel(ADAM_KERNEL, "wasm");
if (simd === undefined) throw new Error("the wasm Adam kernel is not registered");
const variants: Record<string, tf.KernelFunc | undefined> = {
  simd: simd.kernelFunc,
  js: wasmAdamJs,
  ops: undefined,
};
const names = args.variants.split(",");
for (const name of names) if (!(name in variants)) throw new Error(`unknown variant ${name}`);
function use(name: string): void {
  if (tf.getKernel(ADAM_KERNEL, "wasm") !== undefined) tf.unregisterKernel(ADAM_KERNEL, "wasm");
  const kernelFunc = variants[name];
  if (kernelFunc !== undefined) tf.registerKernel({ ...simd!, kernelFunc });
}

// Adam alone: the MLP's variable shapes, fixed random gradients.
const shapes: number[][] = [];
layers.reduce((fanIn, units) => (shapes.push([fanIn, units], [units]), units), inputWidth);
const parameters = shapes.reduce((n, s) => n + s.reduce((a, b) => a * b, 1), 0);
const variables = shapes.map((s) => tf.tidy(() => tf.variable(tf.randomUniform(s, -1, 1, "float32", 1))));
const gradients: tf.NamedTensorMap = Object.fromEntries(variables.map((v, i) => [v.name, tf.randomUniform(v.shape, -1e-2, 1e-2, "float32", 2 + i)]));
const adam = new Adam(1e-3);
const trainer = createDenseMlpTrainer({ batch, inputWidth, layers, seed: 2 }, makeBatches({ batch, inputWidth, count: 4, seed: 1 }));

const times: Record<string, { adam: number[]; step: number[] }> = Object.fromEntries(names.map((n) => [n, { adam: [], step: [] }]));
const tensors: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
let index = 0;
for (let r = 0; r < rounds; r++) {
  for (const name of r % 2 === 0 ? names : [...names].reverse()) {
    use(name);
    tf.tidy(() => adam.applyGradients(gradients)); // untimed after the switch
    trainer.step(index++);
    // Training steps back to back (as in mlp-vs-torch.ts: OpenBLAS's threads stay awake), then Adam alone.
    for (let s = 0; s < steps; s++) {
      const t0 = performance.now();
      trainer.step(index++);
      times[name]!.step.push(performance.now() - t0);
    }
    for (let s = 0; s < steps; s++) {
      const t0 = performance.now();
      tf.tidy(() => adam.applyGradients(gradients));
      times[name]!.adam.push(performance.now() - t0);
    }
    tensors[name]!.push(tf.memory().numTensors);
  }
  console.error(`round ${r + 1}/${rounds}: ${names.map((n) => `${n} ${median(times[n]!.adam).toFixed(2)}/${median(times[n]!.step).toFixed(1)} ms`).join(", ")}`);
}
use("simd");

const result = {
  date: new Date().toISOString(),
  backend: info.name,
  kernelOverrides: info.kernelOverrides,
  parameters,
  batch,
  rounds,
  steps,
  variants: Object.fromEntries(
    names.map((n) => {
      const adamMs = median(times[n]!.adam);
      const stepMs = median(times[n]!.step);
      return [n, { adamMs: +adamMs.toFixed(2), nsPerParameter: +((adamMs * 1e6) / parameters).toFixed(2), stepMs: +stepMs.toFixed(1), samplesPerSec: Math.round((batch / stepMs) * 1000), tensorsAfterEachRound: tensors[n] }];
    }),
  ),
};
console.log(JSON.stringify(result, null, 2));
trainer.dispose();
adam.dispose();
tf.dispose([...variables, ...Object.values(gradients)]);
