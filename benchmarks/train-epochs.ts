/**
 * Where a training epoch's time goes, epoch after epoch in one process: one model stage trained
 * on the prepared Douban split with trainStep over forEachBatch (what trainModel does, without
 * validation), timing the steps apart from the rest (reading, shuffling, batching). Prints per
 * epoch: samples/s, the steps' total, median and mean (the mean includes garbage collections), the
 * wait for the first batch and the other reads. Later epochs show the steady state a long run
 * spends most of its time in (benchmarks/warm-up.ts: a process's first steps are slow).
 * Usage: npx tsx benchmarks/train-epochs.ts <model> [stage] [epochs (default 6)]
 *        [--dataset datasets/douban-book-music.yaml] [--cpu-spec experiments/douban.yaml]
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { prepareDataset } from "../src/data/prepare/index.ts";
import { PreparedDataset } from "../src/data/reader.ts";
import { selectBackend } from "../src/engine/backend.ts";
import { forEachBatch } from "../src/models/batch-loop.ts";
import { recipeByName } from "../src/models/registry.ts";
import { datasetSpecSchema } from "../src/spec/dataset.ts";
import { experimentSpecSchema } from "../src/spec/experiment.ts";
import { loadSpec } from "../src/spec/load.ts";
import { Adam } from "../src/train/adam.ts";
import { trainStep } from "../src/train/trainer.ts";
import { stageModel } from "./bench-replica.ts";
import { median } from "./stats.ts";

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: { dataset: { type: "string", default: "datasets/douban-book-music.yaml" }, "cpu-spec": { type: "string", default: "experiments/douban.yaml" } },
});
const [modelName = "mlp", stageName = "train", epochsArg = "6"] = positionals;
await selectBackend("auto");
const datasetSpec = await loadSpec(args.dataset, datasetSpecSchema);
const dataset = await PreparedDataset.open((await prepareDataset(datasetSpec.value, datasetSpec.dir, { outRoot: join("results", "bench") })).dir);
const spec = (await loadSpec(args["cpu-spec"], experimentSpecSchema)).value;
const { training } = spec;
const { model, stage } = await stageModel(recipeByName(modelName), dataset, spec, 1, stageName);
const entities = stage.options?.entities ?? model.trainEntities;
const optimizer = new Adam(training.learning_rate);
const variables = model.trainableVariables();
console.log(`${modelName}/${stageName}, batch ${training.batch_size}, entities ${entities.join(",")}`);
for (let epoch = 1; epoch <= Number(epochsArg); epoch++) {
  const started = performance.now();
  const steps: number[] = [];
  let rows = 0;
  let firstBatch = 0;
  const read = { split: "train" as const, entities, batchSize: training.batch_size, shuffle: { bufferRows: training.shuffle_buffer, seed: epoch } };
  await forEachBatch(dataset, read, async (batch) => {
    const t0 = performance.now();
    if (steps.length === 0) firstBatch = t0 - started;
    await trainStep(model, optimizer, variables, batch);
    steps.push(performance.now() - t0);
    rows += batch.size;
  });
  const total = performance.now() - started;
  const stepTotal = steps.reduce((s, x) => s + x, 0);
  console.log(
    `epoch ${epoch}: ${steps.length} batches, ${rows} rows, ${total.toFixed(0)} ms = ${Math.round((rows / total) * 1000)} samples/s; ` +
      `steps ${stepTotal.toFixed(0)} ms (median ${median(steps).toFixed(2)}, mean ${(stepTotal / steps.length).toFixed(2)}), ` +
      `first batch after ${firstBatch.toFixed(0)} ms, other reads ${(total - stepTotal - firstBatch).toFixed(0)} ms`,
  );
}
optimizer.dispose();
model.module.dispose();
dataset.close();
