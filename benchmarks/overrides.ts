/**
 * The measured effect of kernel overrides on a real model: one stage's training step and its
 * evaluation pass with every override applied, against the same with a group of overrides removed
 * (default: the data-movement ones of wasm-copy.ts), alternating rounds in one process.
 *
 * `--without adam` compares the SIMD Adam kernel (wasm:MktAdam/simd) with the JS-loop kernel it
 * replaced (wasmAdamJs registered in its place), not with no kernel.
 *
 * `--without dense` undoes the dense-layer changes together: ReLU's one-pass gradient
 * (wasm:MktReluGrad/simd, wasm:MktReluGradSum/simd, grad:Relu/MktReluGrad), Dense's fused bias and ReLU
 * (grad:_FusedMatMul/per-input: without it Dense runs matMul, add, relu) and the Sum override's
 * SIMD sums (its JS loop, sumBlock(…, false), registered in its place).
 *
 * `--without small` compares the BatchMatMul override with its SIMD kernel for batches of small
 * matrices (small-batched-matmul.ts) against the same override without it (those products then go
 * to OpenBLAS per matrix, or to wasm's own kernel).
 *
 * `--without <name>[,<name>…]` removes the overrides of those names (as `mkt info` lists them).
 *
 * Usage: npx tsx benchmarks/overrides.ts [model] [stage] [--without copy|matmul|adam|dense|small|<names>] [--rounds 3] [--steps 4] [--sizes cpu|paper]
 *        [--dataset datasets/synthetic-paper.yaml] [--cpu-spec experiments/paper-synthetic.yaml]
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Batch } from "../src/data/batch.ts";
import { PreparedDataset } from "../src/data/reader.ts";
import { prepareDataset } from "../src/data/prepare/index.ts";
import { selectBackend } from "../src/engine/backend.ts";
import { ADAM_KERNEL, wasmAdamJs } from "../src/engine/kernels/adam-kernel.ts";
import { applyKernelOverrides, removeKernelOverrides } from "../src/engine/kernels/registry.ts";
import { wasmCopyOverrides } from "../src/engine/kernels/wasm-copy.ts";
import { sumBlock } from "../src/engine/kernels/wasm-sum.ts";
import { explicitTransposeMatMul } from "../src/engine/kernels/wasm-batchmatmul.ts";
import { blasBatchMatMul } from "../src/engine/kernels/wasm-blas-matmul.ts";
import { loadedBlas } from "../src/engine/blas.ts";
import { recipeByName } from "../src/models/registry.ts";
import { stageModel } from "./bench-replica.ts";
import { datasetSpecSchema } from "../src/spec/dataset.ts";
import { experimentSpecSchema } from "../src/spec/experiment.ts";
import { loadSpec } from "../src/spec/load.ts";
import { predictBatch } from "../src/models/batch-loop.ts";
import { Adam } from "../src/train/adam.ts";
import { trainStep } from "../src/train/trainer.ts";
import { median } from "./stats.ts";

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    without: { type: "string", default: "copy" },
    rounds: { type: "string", default: "3" },
    steps: { type: "string", default: "4" },
    sizes: { type: "string", default: "cpu" },
    dataset: { type: "string", default: "datasets/synthetic-paper.yaml" },
    "cpu-spec": { type: "string", default: "experiments/paper-synthetic.yaml" },
  },
});
const [modelName = "mlp", stageName = modelName === "mkt" ? "pretrain" : "train"] = positionals;
const copyNames = new Set(wasmCopyOverrides.map((o) => o.name));
/** --without copy (the default), matmul, or a comma-separated list of override names (e.g. engine:clone/shared-data). */
const namedOverrides = new Set(args.without.split(","));
const removed = args.without === "matmul" ? (name: string) => name.includes("MatMul") : args.without === "copy" ? (name: string) => copyNames.has(name) : (name: string) => namedOverrides.has(name);
/** --without adam: the JS-loop Adam kernel in the SIMD one's place (the registry then lists neither). */
function useJsAdam(): void {
  removeKernelOverrides((name) => name === `wasm:${ADAM_KERNEL}/simd`);
  tf.registerKernel({ kernelName: ADAM_KERNEL, backendName: "wasm", kernelFunc: wasmAdamJs });
}
const DENSE = new Set(["wasm:MktReluGrad/simd", "wasm:MktReluGradSum/simd", "grad:Relu/MktReluGrad", "grad:_FusedMatMul/per-input", "wasm:Sum/no-transpose"]);
/** tfjs's own Sum, and the Sum override's JS loop around it (--without dense). */
let sumJs: { tfjs: tf.KernelConfig; kernelFunc: tf.KernelFunc } | undefined;
/** --without dense: the dense-layer changes undone, the Sum override's JS loop in its place. */
function useDenseBefore(): void {
  removeKernelOverrides((name) => DENSE.has(name));
  const tfjs = tf.getKernel(tf.Sum, "wasm")!;
  sumJs = { tfjs, kernelFunc: sumBlock(tfjs.kernelFunc, false) };
  tf.unregisterKernel(tf.Sum, "wasm");
  tf.registerKernel({ ...tfjs, kernelFunc: sumJs.kernelFunc });
}
/** tfjs's own BatchMatMul, and the BatchMatMul override without its small-matrix SIMD kernel (--without small). */
let withoutSmall: { tfjs: tf.KernelConfig; kernelFunc: tf.KernelFunc } | undefined;
function useWithoutSmall(): void {
  removeKernelOverrides((name) => name.startsWith("wasm:BatchMatMul/"));
  const tfjs = tf.getKernel(tf.BatchMatMul, "wasm")!;
  const plain = explicitTransposeMatMul(tfjs.kernelFunc);
  withoutSmall = { tfjs, kernelFunc: loadedBlas() ? blasBatchMatMul(plain) : plain };
  tf.unregisterKernel(tf.BatchMatMul, "wasm");
  tf.registerKernel({ ...tfjs, kernelFunc: withoutSmall.kernelFunc });
}
function useAll(): void {
  if (withoutSmall !== undefined && tf.getKernel(tf.BatchMatMul, "wasm")?.kernelFunc === withoutSmall.kernelFunc) {
    tf.unregisterKernel(tf.BatchMatMul, "wasm");
    tf.registerKernel(withoutSmall.tfjs);
  }
  if (tf.getKernel(ADAM_KERNEL, "wasm")?.kernelFunc === wasmAdamJs) tf.unregisterKernel(ADAM_KERNEL, "wasm");
  if (sumJs !== undefined && tf.getKernel(tf.Sum, "wasm")?.kernelFunc === sumJs.kernelFunc) {
    tf.unregisterKernel(tf.Sum, "wasm");
    tf.registerKernel(sumJs.tfjs);
  }
  applyKernelOverrides("wasm");
}

await selectBackend("wasm");
const datasetSpec = await loadSpec(args.dataset, datasetSpecSchema);
const dataset = await PreparedDataset.open((await prepareDataset(datasetSpec.value, datasetSpec.dir, { outRoot: join("results", "bench") })).dir);
const spec = (await loadSpec(args.sizes === "paper" ? "experiments/paper-gpu.yaml" : args["cpu-spec"], experimentSpecSchema)).value;
const { model, stage: { options = {} } } = await stageModel(recipeByName(modelName), dataset, spec, 1, stageName);

async function read(options: Parameters<PreparedDataset["batches"]>[0], count: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of dataset.batches(options)) if (out.push(b) === count) break;
  return out;
}
const train = await read({ split: "train", entities: [...(options.entities ?? model.trainEntities)], batchSize: spec.training.batch_size, shuffle: { bufferRows: 65_536, seed: 1 } }, 4);
const evalBatches = await read({ split: "test", entities: ["target"], batchSize: 8192 }, 2);
const optimizer = new Adam(1e-3);
const variables = model.trainableVariables();

const variants = { all: useAll, [`without ${args.without}`]: args.without === "adam" ? useJsAdam : args.without === "dense" ? useDenseBefore : args.without === "small" ? useWithoutSmall : () => void removeKernelOverrides(removed) };
const times: Record<string, { train: number[]; eval: number[] }> = {};
for (const name of Object.keys(variants)) times[name] = { train: [], eval: [] };
const steps = Number(args.steps);
for (let r = 0; r < Number(args.rounds); r++) {
  const order = r % 2 === 0 ? Object.keys(variants) : Object.keys(variants).reverse();
  for (const name of order) {
    variants[name]!();
    await trainStep(model, optimizer, variables, train[0]!); // untimed after the switch
    await predictBatch(model, evalBatches[0]!);
    for (let s = 0; s < steps; s++) {
      const batch = train[s % train.length]!;
      const t0 = performance.now();
      await trainStep(model, optimizer, variables, batch);
      times[name]!.train.push((performance.now() - t0) / batch.size);
    }
    for (const batch of evalBatches) {
      const t0 = performance.now();
      await predictBatch(model, batch);
      times[name]!.eval.push((performance.now() - t0) / batch.size);
    }
  }
}
useAll();
const sps = (perSample: number[]) => Math.round(1000 / median(perSample));
const result = Object.fromEntries(Object.entries(times).map(([name, t]) => [name, { trainSamplesPerSecond: sps(t.train), evalSamplesPerSecond: sps(t.eval) }]));
const [a, b] = Object.values(result);
console.log(JSON.stringify({ model: modelName, stage: stageName, sizes: args.sizes, ...result, ratio: { train: Number((a!.trainSamplesPerSecond / b!.trainSamplesPerSecond).toFixed(2)), eval: Number((a!.evalSamplesPerSecond / b!.evalSamplesPerSecond).toFixed(2)) } }, null, 2));
optimizer.dispose();
model.module.dispose();
dataset.close();
