/**
 * `npm run bench`: the foundation's throughput on this machine.
 *  - prepare: raw rows/s of `mkt prepare` on the generator's synthetic-paper tables (3M impressions;
 *    generation is timed separately and not counted);
 *  - reader: rows/s into typed arrays, mixed source+target training rows through the shuffle
 *    buffer, and in file order; peak RSS growth while reading (bounded: it must not scale with data);
 *  - metrics: AUC + GAUC on 10M predictions.
 * Usage: npm run bench [-- --dataset datasets/synthetic-paper.yaml]
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { PreparedDataset } from "../src/data/reader.ts";
import { prepareDataset } from "../src/data/prepare/index.ts";
import { datasetSpecSchema } from "../src/spec/dataset.ts";
import { loadSpec } from "../src/spec/load.ts";
import { benchMetrics } from "./metrics.ts";

const args = process.argv.slice(2);
const datasetFile = args[args.indexOf("--dataset") + 1] && args.includes("--dataset") ? args[args.indexOf("--dataset") + 1]! : "datasets/synthetic-paper.yaml";
const outRoot = join("results", "bench");

const spec = await loadSpec(datasetFile, datasetSpecSchema);
// The first call generates the raw tables if they are missing (not timed); the second is the measurement.
await prepareDataset(spec.value, spec.dir, { outRoot });
const prepared = await prepareDataset(spec.value, spec.dir, { outRoot, force: true });
const prepareRowsPerSecond = prepared.stats.rawRows / prepared.stats.seconds;

const ds = await PreparedDataset.open(prepared.dir);
async function readerRun(shuffle: boolean): Promise<{ rows: number; rowsPerSecond: number; rssGrowthMiB: number }> {
  global.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  const start = performance.now();
  let rows = 0;
  for await (const batch of ds.batches({
    split: "train",
    entities: ["source", "target"],
    batchSize: 1024,
    ...(shuffle ? { shuffle: { bufferRows: 65_536, seed: 1 } } : {}),
  })) {
    rows += batch.size;
    if ((rows & 0xffff) < 1024) peak = Math.max(peak, process.memoryUsage().rss);
    ds.recycle(batch); // as the trainer and evaluation do once a batch is in tensors
  }
  return { rows, rowsPerSecond: rows / ((performance.now() - start) / 1000), rssGrowthMiB: (peak - rssBefore) / 2 ** 20 };
}
const shuffled = await readerRun(true);
const ordered = await readerRun(false);
ds.close();
const metrics = await benchMetrics();

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const lines = [
  `mkt foundation benchmark — ${new Date().toISOString()}, node ${process.versions.node}, ${process.platform}/${process.arch}`,
  "",
  "| what | figure | goal |",
  "|---|---|---|",
  `| prepare ${spec.value.name} (${fmt(prepared.stats.rawRows)} raw rows) | ${fmt(prepareRowsPerSecond)} rows/s (${prepared.stats.seconds.toFixed(1)} s) | ≥ 300,000 rows/s |`,
  `| reader, shuffled (buffer 65,536), mixed source+target train (${fmt(shuffled.rows)} rows) | ${fmt(shuffled.rowsPerSecond)} rows/s, RSS +${shuffled.rssGrowthMiB.toFixed(0)} MiB | ≥ 1,000,000 rows/s |`,
  `| reader, file order, same rows | ${fmt(ordered.rowsPerSecond)} rows/s, RSS +${ordered.rssGrowthMiB.toFixed(0)} MiB | |`,
  `| AUC + GAUC on ${fmt(metrics.n)} predictions (${fmt(metrics.users)} users) | ${metrics.totalSeconds.toFixed(2)} s (AUC ${metrics.aucSeconds.toFixed(2)} s, GAUC ${metrics.gaucSeconds.toFixed(2)} s) | < 3 s |`,
];
process.stdout.write(lines.join("\n") + "\n");
if (args.includes("--clean")) await rm(outRoot, { recursive: true, force: true });
