/**
 * `npm run bench:train`: training and evaluation throughput of every model's training stages
 * (MKT's MEM and TEM and the ten baselines) at the CPU experiment sizes (experiments/
 * paper-synthetic.yaml) and the paper's sizes (experiments/paper-gpu.yaml), on the backend auto
 * picks, with each stage's samples/s as a ratio of the MLP baseline's at the same sizes.
 *
 * Usage: npm run bench:train [-- --sizes cpu,paper] [--models mkt,mlp,...] [--steps 6] [--warmup 2]
 *        [--dataset datasets/synthetic-paper.yaml] [--json]
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { PreparedDataset } from "../src/data/reader.ts";
import { prepareDataset } from "../src/data/prepare/index.ts";
import { selectBackend } from "../src/engine/backend.ts";
import { recipeFor } from "../src/models/registry.ts";
import { datasetSpecSchema } from "../src/spec/dataset.ts";
import { experimentSpecSchema, MODEL_NAMES, type ModelName } from "../src/spec/experiment.ts";
import { loadSpec } from "../src/spec/load.ts";
import { measureRecipe, type StageThroughput } from "./model-steps.ts";

const { values: args } = parseArgs({
  options: {
    sizes: { type: "string", default: "cpu,paper" },
    models: { type: "string", default: MODEL_NAMES.join(",") },
    steps: { type: "string", default: "6" },
    warmup: { type: "string", default: "2" },
    dataset: { type: "string", default: "datasets/synthetic-paper.yaml" },
    json: { type: "boolean", default: false },
  },
});

const SIZE_SPECS: Record<string, string> = { cpu: "experiments/paper-synthetic.yaml", paper: "experiments/paper-gpu.yaml" };
const sizeNames = args.sizes.split(",");
const models = args.models.split(",") as ModelName[];
for (const m of models) if (!(MODEL_NAMES as readonly string[]).includes(m)) throw new Error(`--models: unknown model '${m}'`);
for (const s of sizeNames) if (!(s in SIZE_SPECS)) throw new Error(`--sizes: expected cpu and/or paper, got '${s}'`);

const backend = await selectBackend("auto");
const datasetSpec = await loadSpec(args.dataset, datasetSpecSchema);
const prepared = await prepareDataset(datasetSpec.value, datasetSpec.dir, { outRoot: join("results", "bench") });
const dataset = await PreparedDataset.open(prepared.dir);
const stepOptions = { warmupSteps: Number(args.warmup), timedSteps: Number(args.steps), batches: 8, evalBatches: 4 };

const rows: (StageThroughput & { sizes: string })[] = [];
for (const sizes of sizeNames) {
  const loaded = await loadSpec(SIZE_SPECS[sizes]!, experimentSpecSchema);
  const spec = { ...loaded.value, training: { ...loaded.value.training, eval_batch_size: 8192 } };
  // The MLP first: every other stage is reported as a ratio of it.
  for (const model of ["mlp" as const, ...models.filter((m) => m !== "mlp")]) {
    for (const r of await measureRecipe(recipeFor(model), dataset, spec, stepOptions)) {
      rows.push({ sizes, ...r });
      console.error(`${sizes} ${r.model}/${r.stage}: train ${Math.round(r.trainSamplesPerSecond)} samples/s, eval ${Math.round(r.evalSamplesPerSecond)} samples/s, peak RSS ${Math.round(r.peakRssMiB)} MiB`);
    }
  }
}
dataset.close();

if (args.json) {
  console.log(JSON.stringify({ date: new Date().toISOString(), backend: backend.name, kernelOverrides: backend.kernelOverrides, versions: backend.versions, rows }, null, 2));
} else {
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  console.log(`mkt bench:train — ${new Date().toISOString()}, backend ${backend.name} (overrides: ${backend.kernelOverrides.join(", ") || "none"}), node ${process.versions.node}`);
  console.log(`steps: ${stepOptions.warmupSteps} warm-up + ${stepOptions.timedSteps} timed per stage (median), dataset ${datasetSpec.value.name}\n`);
  console.log("| sizes | model / stage | rows | batch | params | train samples/s | × MLP | eval samples/s | peak RSS MiB |");
  console.log("|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    const mlp = rows.find((m) => m.sizes === r.sizes && m.model === "mlp")!;
    const ratio = r.trainSamplesPerSecond / mlp.trainSamplesPerSecond;
    console.log(
      `| ${r.sizes} | ${r.model} / ${r.stage} | ${r.entities.join("+")} | ${r.batchSize} | ${fmt(r.trainableParameters)} | ${fmt(r.trainSamplesPerSecond)} | ${ratio.toFixed(2)} | ${fmt(r.evalSamplesPerSecond)} | ${fmt(r.peakRssMiB)} |`,
    );
  }
}
