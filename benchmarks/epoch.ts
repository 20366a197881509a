/**
 * `npm run bench:epoch`: one full training epoch of a model stage over synthetic-paper (default
 * MKT's MEM, which reads every source and target training row), through the real trainer, with
 * data-parallel replicas (one per core by default). Prints samples/s and, every `--every` steps,
 * the main thread's tensor count and the process RSS: the tensor count must stay flat and the RSS
 * bounded (it must not grow with the steps taken).
 *
 * Usage: npm run bench:epoch [-- --model mkt --stage pretrain --sizes cpu --replicas N --max-steps N --every 200]
 */
import * as tf from "@tensorflow/tfjs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { PreparedDataset } from "../src/data/reader.ts";
import { prepareDataset } from "../src/data/prepare/index.ts";
import { selectBackend } from "../src/engine/backend.ts";
import { recipeByName } from "../src/models/registry.ts";
import { stageModel } from "./bench-replica.ts";
import { datasetSpecSchema } from "../src/spec/dataset.ts";
import { experimentSpecSchema } from "../src/spec/experiment.ts";
import { loadSpec } from "../src/spec/load.ts";
import { trainModel } from "../src/train/trainer.ts";
import type { BenchReplicaArgs } from "./bench-replica.ts";

const { values: args } = parseArgs({
  options: {
    model: { type: "string", default: "mkt" },
    stage: { type: "string", default: "pretrain" },
    sizes: { type: "string", default: "cpu" },
    replicas: { type: "string", default: String(availableParallelism()) },
    "max-steps": { type: "string" },
    every: { type: "string", default: "200" },
  },
});

const backend = await selectBackend("auto");
const datasetSpec = await loadSpec("datasets/synthetic-paper.yaml", datasetSpecSchema);
const dataset = await PreparedDataset.open((await prepareDataset(datasetSpec.value, datasetSpec.dir, { outRoot: join("results", "bench") })).dir);
const spec = (await loadSpec(args.sizes === "paper" ? "experiments/paper-gpu.yaml" : "experiments/paper-synthetic.yaml", experimentSpecSchema)).value;
const replicas = Number(args.replicas);
const every = Number(args.every);

const samples: { step: number; tensors: number; rssMiB: number }[] = [];
const { model, stage: { options = {} } } = await stageModel(recipeByName(args.model), dataset, spec, 1, args.stage);
const replicaArgs: BenchReplicaArgs = { datasetDir: dataset.dir, spec, recipe: args.model, stage: args.stage };
const started = performance.now();
const result = await trainModel(model, dataset, {
  training: spec.training,
  seed: 1,
  validation: "none",
  maxEpochs: 1,
  ...(options.entities ? { entities: options.entities } : {}),
  ...(args["max-steps"] ? { maxBatchesPerEpoch: Number(args["max-steps"]) } : {}),
  ...(replicas > 1
    ? { parallel: { replicas, backend: backend.name, kernelOverrides: backend.kernelOverrides.length > 0, factory: { module: new URL("./bench-replica.ts", import.meta.url).href, exportName: "buildBenchReplica", args: replicaArgs } } }
    : {}),
  onStep: ({ step }) => {
    if (step % every === 1 || every === 1) {
      const entry = { step, tensors: tf.memory().numTensors, rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20) };
      samples.push(entry);
      console.error(`step ${step}: ${entry.tensors} tensors, RSS ${entry.rssMiB} MiB`);
    }
  },
});
const epoch = result.epochs[0]!;
const tensors = samples.map((s) => s.tensors);
const rss = samples.map((s) => s.rssMiB);
const afterWarmup = rss.slice(Math.min(2, rss.length - 1));
console.log(
  JSON.stringify(
    {
      model: args.model,
      stage: args.stage,
      sizes: args.sizes,
      backend: backend.name,
      replicas,
      samples: epoch.samples,
      seconds: Number(((performance.now() - started) / 1000).toFixed(1)),
      samplesPerSecond: Math.round(epoch.samplesPerSecond),
      tensors: { first: tensors[0], last: tensors.at(-1), min: Math.min(...tensors), max: Math.max(...tensors) },
      rssMiB: { first: rss[0], last: rss.at(-1), max: Math.max(...rss), growthAfterWarmup: Math.max(...afterWarmup) - afterWarmup[0]! },
      checkpoints: samples.length,
    },
    null,
    2,
  ),
);
model.module.dispose();
dataset.close();
