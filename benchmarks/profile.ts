/**
 * Per-kernel profile of one model stage's training step or prediction (tf.profile; on wasm each
 * kernel runs synchronously, so its kernelTimeMs is its wall time).
 * Usage: npx tsx benchmarks/profile.ts <model or mkt-ablation> [stage] [--sizes cpu|paper] [--eval] [--top 25]
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Batch } from "../src/data/batch.ts";
import { PreparedDataset } from "../src/data/reader.ts";
import { prepareDataset } from "../src/data/prepare/index.ts";
import { selectBackend } from "../src/engine/backend.ts";
import { batchToTensors, disposeBatchTensors } from "../src/models/inputs.ts";
import { modelAtStage, untrained } from "../src/run/stage-replica.ts";
import { Adam } from "../src/train/adam.ts";
import { datasetSpecSchema } from "../src/spec/dataset.ts";
import { experimentSpecSchema } from "../src/spec/experiment.ts";
import { loadSpec } from "../src/spec/load.ts";

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: { sizes: { type: "string", default: "cpu" }, eval: { type: "boolean", default: false }, top: { type: "string", default: "25" } },
});
const [modelName = "mlp", stageName] = positionals;
await selectBackend("auto");
const datasetSpec = await loadSpec("datasets/synthetic-paper.yaml", datasetSpecSchema);
const dataset = await PreparedDataset.open((await prepareDataset(datasetSpec.value, datasetSpec.dir, { outRoot: join("results", "bench") })).dir);
const spec = (await loadSpec(args.sizes === "paper" ? "experiments/paper-gpu.yaml" : "experiments/paper-synthetic.yaml", experimentSpecSchema)).value;

async function firstBatch(options: Parameters<PreparedDataset["batches"]>[0]): Promise<Batch> {
  for await (const b of dataset.batches(options)) return b;
  throw new Error("no batch");
}

const stage = stageName ?? (modelName === "mkt" ? "pretrain" : "train");
const { model, options } = await modelAtStage(modelName, stage, { dataset, spec, seed: 1, requireStage: () => Promise.resolve() }, untrained);
const batch = args.eval
  ? await firstBatch({ split: "test", entities: ["target"], batchSize: spec.training.eval_batch_size })
  : await firstBatch({ split: "train", entities: [...(options.entities ?? model.trainEntities)], batchSize: spec.training.batch_size, shuffle: { bufferRows: 65_536, seed: 1 } });
const optimizer = new Adam(1e-3);
const run = () => {
  const t = batchToTensors(batch);
  tf.tidy(() => {
    if (args.eval) model.predictTarget(t).dataSync();
    else optimizer.minimize(() => model.loss(t).total, model.trainableVariables());
  });
  disposeBatchTensors(t);
};
run();
run();
const t0 = performance.now();
const profile = await tf.profile(run);
const wall = performance.now() - t0;
const kernelMs = (k: (typeof profile.kernels)[number]) => (typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0);
const byShape = new Map<string, { ms: number; calls: number }>();
const byName = new Map<string, number>();
for (const k of profile.kernels) {
  const key = `${k.name} ${JSON.stringify(k.inputShapes)}`;
  const e = byShape.get(key) ?? { ms: 0, calls: 0 };
  e.ms += kernelMs(k);
  e.calls++;
  byShape.set(key, e);
  byName.set(k.name, (byName.get(k.name) ?? 0) + kernelMs(k));
}
const total = [...byName.values()].reduce((a, b) => a + b, 0);
console.log(`${modelName}/${stage} ${args.eval ? "eval" : "train"} batch ${batch.size}: wall ${wall.toFixed(1)} ms (profiled), kernels ${total.toFixed(1)} ms, ${profile.kernels.length} kernel calls`);
console.log("by kernel:", [...byName].sort((a, b) => b[1] - a[1]).slice(0, 15).map(([n, ms]) => `${n} ${ms.toFixed(1)}`).join(", "));
for (const [key, e] of [...byShape].sort((a, b) => b[1].ms - a[1].ms).slice(0, Number(args.top))) console.log(`${e.ms.toFixed(2).padStart(9)} ms ${String(e.calls).padStart(4)}× ${key.slice(0, 160)}`);
optimizer.dispose();
model.module.dispose();
dataset.close();
