/**
 * Per-kernel wall times of a model stage's training steps (or predictions). Every kernel registered
 * for the backend is wrapped with a timer for the measured steps; on wasm each kernel runs
 * synchronously, so its time is its wall time. (tf.profile is not used: without a backend timer it
 * reads every kernel's output back, whose copies and garbage collections it then charges to the
 * kernels, up to 2 ms for a 0.05 ms Add.) "Outside kernels" is the rest of the step: tfjs's
 * bookkeeping (tensors, scopes, the gradient tape), the model's JS and the batch upload.
 * Batched products ([B, m, k]·[B, k, n] with B > 1) are listed as BatchMatMul/batched.
 * Usage: npx tsx benchmarks/profile.ts <model or mkt-ablation> [stage] [--sizes cpu|paper] [--eval] [--steps 5] [--top 25]
 *        [--dataset datasets/synthetic-paper.yaml] [--cpu-spec experiments/paper-synthetic.yaml]
 * (`--dataset datasets/douban-book-music.yaml --cpu-spec experiments/douban.yaml`: what bench:train's twins run on.)
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Batch } from "../src/data/batch.ts";
import { PreparedDataset } from "../src/data/reader.ts";
import { prepareDataset } from "../src/data/prepare/index.ts";
import { selectBackend } from "../src/engine/backend.ts";
import { batchToTensors, disposeBatchTensors } from "../src/models/inputs.ts";
import { recipeByName } from "../src/models/registry.ts";
import { stageModel } from "./bench-replica.ts";
import { Adam } from "../src/train/adam.ts";
import { datasetSpecSchema } from "../src/spec/dataset.ts";
import { experimentSpecSchema } from "../src/spec/experiment.ts";
import { loadSpec } from "../src/spec/load.ts";

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    sizes: { type: "string", default: "cpu" },
    eval: { type: "boolean", default: false },
    steps: { type: "string", default: "5" },
    top: { type: "string", default: "25" },
    dataset: { type: "string", default: "datasets/synthetic-paper.yaml" },
    "cpu-spec": { type: "string", default: "experiments/paper-synthetic.yaml" },
  },
});
const [modelName = "mlp", stageName] = positionals;
const backend = await selectBackend("auto");
const datasetSpec = await loadSpec(args.dataset, datasetSpecSchema);
const dataset = await PreparedDataset.open((await prepareDataset(datasetSpec.value, datasetSpec.dir, { outRoot: join("results", "bench") })).dir);
const spec = (await loadSpec(args.sizes === "paper" ? "experiments/paper-gpu.yaml" : args["cpu-spec"], experimentSpecSchema)).value;

async function readBatches(options: Parameters<PreparedDataset["batches"]>[0], count: number): Promise<Batch[]> {
  const out: Batch[] = [];
  for await (const b of dataset.batches(options)) {
    out.push(b);
    if (out.length === count) break;
  }
  if (out.length === 0) throw new Error("no batch");
  return out;
}

const stage = stageName ?? (modelName === "mkt" ? "pretrain" : "train");
const { model, stage: { options = {} } } = await stageModel(recipeByName(modelName), dataset, spec, 1, stage);
const batches = args.eval
  ? await readBatches({ split: "test", entities: ["target"], batchSize: spec.training.eval_batch_size }, 2)
  : await readBatches({ split: "train", entities: [...(options.entities ?? model.trainEntities)], batchSize: spec.training.batch_size, shuffle: { bufferRows: 65_536, seed: 1 } }, 6);
const optimizer = new Adam(1e-3);
const variables = model.trainableVariables();
const run = (batch: Batch) => {
  const t = batchToTensors(batch);
  tf.tidy(() => {
    if (args.eval) model.predictTarget(t).dataSync();
    else optimizer.minimize(() => model.loss(t).total, variables);
  });
  disposeBatchTensors(t);
};
for (let i = 0; i < 3; i++) run(batches[i % batches.length]!);

type Timing = { ms: number; calls: number };
const add = (map: Map<string, Timing>, key: string, ms: number) => {
  const e = map.get(key) ?? { ms: 0, calls: 0 };
  e.ms += ms;
  e.calls++;
  map.set(key, e);
};
const byShape = new Map<string, Timing>();
const byName = new Map<string, Timing>();
let timing = false;
let depth = 0; // kernels that call kernels (e.g. a fallback) are counted once, at the outer one
for (const k of tf.getKernelsForBackend(backend.tfjsBackend)) {
  const config = tf.getKernel(k.kernelName, k.backendName) as { kernelFunc: tf.KernelFunc } | undefined;
  if (config === undefined) continue;
  const inner = config.kernelFunc;
  config.kernelFunc = (kernelArgs) => {
    if (!timing || depth > 0) return inner(kernelArgs);
    depth++;
    const t0 = performance.now();
    try {
      return inner(kernelArgs);
    } finally {
      const ms = performance.now() - t0;
      depth--;
      const shapes = Object.values(kernelArgs.inputs).map((x) => (x as tf.TensorInfo).shape);
      const batched = (k.kernelName === tf.BatchMatMul || k.kernelName === tf._FusedMatMul) && shapes[0]!.length >= 3 && shapes[0]![0]! > 1;
      add(byName, batched ? `${k.kernelName}/batched` : k.kernelName, ms);
      add(byShape, `${k.kernelName} ${JSON.stringify(shapes)} ${JSON.stringify(kernelArgs.attrs ?? {}).slice(0, 60)}`, ms);
    }
  };
}
const steps = Number(args.steps);
timing = true;
const t0 = performance.now();
for (let i = 0; i < steps; i++) run(batches[i % batches.length]!);
const wall = (performance.now() - t0) / steps;
timing = false;

const perStep = (e: Timing) => `${(e.ms / steps).toFixed(2).padStart(8)} ms ${String(e.calls / steps).padStart(6)}×`;
const kernelMs = [...byName.values()].reduce((s, e) => s + e.ms, 0) / steps;
const calls = [...byName.values()].reduce((s, e) => s + e.calls, 0) / steps;
console.log(
  `${modelName}/${stage} ${args.sizes} ${args.eval ? "eval" : "train"}, batch ${batches[0]!.size}: ${wall.toFixed(1)} ms per step (timers on), ` +
    `kernels ${kernelMs.toFixed(1)} ms in ${calls} calls, outside kernels ${(wall - kernelMs).toFixed(1)} ms`,
);
console.log("by kernel:");
for (const [name, e] of [...byName].sort((a, b) => b[1].ms - a[1].ms).slice(0, 20)) console.log(`${perStep(e)} ${name}`);
console.log("by kernel and shapes:");
for (const [key, e] of [...byShape].sort((a, b) => b[1].ms - a[1].ms).slice(0, Number(args.top))) console.log(`${perStep(e)} ${key.slice(0, 170)}`);
optimizer.dispose();
model.module.dispose();
dataset.close();
