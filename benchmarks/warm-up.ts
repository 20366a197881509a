/**
 * How a process's training steps speed up as V8 compiles the JavaScript around the kernels: one
 * model stage's Adam step on one batch of the prepared Douban split, repeated, timed step by step.
 * Prints the mean step time of steps 1–2, 3–8, 9–20, 21–40, 41–60, and the median and mean of steps
 * 61 on (the mean includes the garbage collections that fall in them).
 * Usage: npx tsx benchmarks/warm-up.ts <model> [stage] [steps (default 140)]
 *        [--dataset datasets/douban-book-music.yaml] [--cpu-spec experiments/douban.yaml]
 */
import * as tf from "@tensorflow/tfjs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { Batch } from "../src/data/batch.ts";
import { prepareDataset } from "../src/data/prepare/index.ts";
import { PreparedDataset } from "../src/data/reader.ts";
import { selectBackend } from "../src/engine/backend.ts";
import { forEachBatch } from "../src/models/batch-loop.ts";
import { batchToTensors, disposeBatchTensors } from "../src/models/inputs.ts";
import { recipeByName } from "../src/models/registry.ts";
import { datasetSpecSchema } from "../src/spec/dataset.ts";
import { experimentSpecSchema } from "../src/spec/experiment.ts";
import { loadSpec } from "../src/spec/load.ts";
import { Adam } from "../src/train/adam.ts";
import { stageModel } from "./bench-replica.ts";
import { median } from "./stats.ts";

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: { dataset: { type: "string", default: "datasets/douban-book-music.yaml" }, "cpu-spec": { type: "string", default: "experiments/douban.yaml" } },
});
const [modelName = "mlp", stageName = "train", stepsArg = "140"] = positionals;
const steps = Math.max(61, Number(stepsArg));
await selectBackend("auto");
const datasetSpec = await loadSpec(args.dataset, datasetSpecSchema);
const dataset = await PreparedDataset.open((await prepareDataset(datasetSpec.value, datasetSpec.dir, { outRoot: join("results", "bench") })).dir);
const spec = (await loadSpec(args["cpu-spec"], experimentSpecSchema)).value;
const { model } = await stageModel(recipeByName(modelName), dataset, spec, 1, stageName);
let batch: Batch | undefined;
const read = { split: "train" as const, entities: model.trainEntities, batchSize: spec.training.batch_size, shuffle: { bufferRows: spec.training.shuffle_buffer, seed: 1 }, maxBatches: 1 };
await forEachBatch(dataset, read, async (b) => void (batch = structuredClone(b)));
dataset.close();
const tensors = batchToTensors(batch!);
const optimizer = new Adam(spec.training.learning_rate);
const variables = model.trainableVariables();
const times: number[] = [];
for (let i = 0; i < steps; i++) {
  const t0 = performance.now();
  const loss = tf.tidy(() => {
    let kept: tf.Tensor | undefined;
    optimizer.minimize(() => {
      const { total } = model.loss(tensors);
      kept = tf.keep(total.clone());
      return total;
    }, variables);
    return kept!;
  });
  await loss.data(); // read back, as the trainer does
  loss.dispose();
  times.push(performance.now() - t0);
}
const mean = (from: number, to: number) => (times.slice(from - 1, to).reduce((a, b) => a + b, 0) / (to - from + 1)).toFixed(1);
console.log(
  `${modelName}/${stageName}, batch ${batch!.size}: mean ms per step, steps 1–2 ${mean(1, 2)}, 3–8 ${mean(3, 8)}, 9–20 ${mean(9, 20)}, 21–40 ${mean(21, 40)}, 41–60 ${mean(41, 60)}; steps 61–${steps}: median ${median(times.slice(60)).toFixed(2)}, mean ${mean(61, steps)} (with garbage collections)`,
);
optimizer.dispose();
disposeBatchTensors(tensors);
