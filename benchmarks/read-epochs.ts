/**
 * Reading a prepared training split epoch after epoch, as the trainer does (shuffled with the
 * epoch's seed, each batch turned into tensors and handed back), without training: ms per epoch
 * and the wait for its first batch.
 * Usage: npx tsx benchmarks/read-epochs.ts [dataset spec] [epochs] [entities]
 *        (default datasets/douban-book-music.yaml 5 target; entities: target or source,target)
 */
import { join } from "node:path";
import type { EntityName } from "../src/data/batch.ts";
import { prepareDataset } from "../src/data/prepare/index.ts";
import { PreparedDataset } from "../src/data/reader.ts";
import { selectBackend } from "../src/engine/backend.ts";
import { batchToTensors, disposeBatchTensors } from "../src/models/inputs.ts";
import { datasetSpecSchema } from "../src/spec/dataset.ts";
import { experimentSpecSchema } from "../src/spec/experiment.ts";
import { loadSpec } from "../src/spec/load.ts";

const [specFile = "datasets/douban-book-music.yaml", epochs = "5", entities = "target"] = process.argv.slice(2);
await selectBackend("auto");
const datasetSpec = await loadSpec(specFile, datasetSpecSchema);
const dataset = await PreparedDataset.open((await prepareDataset(datasetSpec.value, datasetSpec.dir, { outRoot: join("results", "bench") })).dir);
const { training } = (await loadSpec("experiments/douban.yaml", experimentSpecSchema)).value;
for (let epoch = 1; epoch <= Number(epochs); epoch++) {
  let rows = 0;
  let firstBatch = 0;
  const t0 = performance.now();
  const read = { split: "train" as const, entities: entities.split(",") as EntityName[], batchSize: training.batch_size, shuffle: { bufferRows: training.shuffle_buffer, seed: epoch } };
  for await (const batch of dataset.batches(read)) {
    if (rows === 0) firstBatch = performance.now() - t0;
    rows += batch.size;
    disposeBatchTensors(batchToTensors(batch));
    dataset.recycle(batch);
  }
  console.log(`epoch ${epoch}: ${rows} rows in ${(performance.now() - t0).toFixed(0)} ms, first batch after ${firstBatch.toFixed(0)} ms`);
}
dataset.close();
