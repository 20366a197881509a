/**
 * `npm run bench:train -- --no-torch` (benchmarks/twins.ts hands --no-torch runs to this file;
 * `npm run bench:train` itself compares every model with its PyTorch twin): training and evaluation throughput of every model's training stages
 * (MKT's MEM and TEM and the ten baselines) at the CPU experiment sizes (experiments/
 * paper-synthetic.yaml) and the paper's sizes (experiments/paper-gpu.yaml), on the backend auto
 * picks: samples/s in one thread and with data-parallel replicas (one per core by default), each as
 * a ratio of the MLP baseline's at the same sizes; eval samples/s; peak RSS. Then the dense-MLP
 * comparison with PyTorch (benchmarks/mlp-vs-torch.ts).
 *
 * Each (sizes, model) runs in a child process of its own, so its peak RSS is its own and no wasm
 * heap grown by an earlier model is carried over.
 *
 * Usage: npm run bench:train -- --no-torch [--sizes cpu,paper] [--models mkt,mlp,...] [--steps 6] [--warmup 2]
 *        [--replicas N] [--json]   (or: node --expose-gc --import tsx benchmarks/train.ts [...], with the dense-MLP comparison)
 */
import { execFileSync } from "node:child_process";
import { availableParallelism, cpus } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { PreparedDataset } from "../src/data/reader.ts";
import { prepareDataset } from "../src/data/prepare/index.ts";
import { selectBackend } from "../src/engine/backend.ts";
import { modelNames, recipeFor } from "../src/models/registry.ts";
import { datasetSpecSchema } from "../src/spec/dataset.ts";
import { experimentSpecSchema } from "../src/spec/experiment.ts";
import { loadSpec } from "../src/spec/load.ts";
import { benchMlpVsTorch, type MlpVsTorchResult } from "./mlp-vs-torch.ts";
import { measureRecipe, type StageThroughput } from "./model-steps.ts";

const { values: args } = parseArgs({
  options: {
    sizes: { type: "string", default: "cpu,paper" },
    models: { type: "string", default: modelNames().join(",") },
    steps: { type: "string", default: "6" },
    warmup: { type: "string", default: "2" },
    replicas: { type: "string", default: String(availableParallelism()) },
    dataset: { type: "string", default: "datasets/synthetic-paper.yaml" },
    torch: { type: "boolean", default: true },
    "no-torch": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    child: { type: "boolean", default: false },
  },
});

const SIZE_SPECS: Record<string, string> = { cpu: "experiments/paper-synthetic.yaml", paper: "experiments/paper-gpu.yaml" };
const sizeNames = args.sizes.split(",");
const models = args.models.split(",");
for (const m of models) if (!modelNames().includes(m)) throw new Error(`--models: unknown model '${m}'`);
for (const s of sizeNames) if (!(s in SIZE_SPECS)) throw new Error(`--sizes: expected cpu and/or paper, got '${s}'`);

type Row = StageThroughput & { sizes: string; peakRssMiB: number };

/** Child: one sizes × one model; prints its rows as one JSON line. */
async function child(): Promise<void> {
  const backend = await selectBackend("auto");
  const datasetSpec = await loadSpec(args.dataset, datasetSpecSchema);
  const prepared = await prepareDataset(datasetSpec.value, datasetSpec.dir, { outRoot: join("results", "bench") });
  const dataset = await PreparedDataset.open(prepared.dir);
  const sizes = sizeNames[0]!;
  const spec = (await loadSpec(SIZE_SPECS[sizes]!, experimentSpecSchema)).value;
  const options = { warmupSteps: Number(args.warmup), timedSteps: Number(args.steps), batches: 8, evalBatches: 4, replicas: Number(args.replicas) };
  const rows = await measureRecipe(recipeFor(models[0]!), dataset, spec, backend, options);
  dataset.close();
  const peakRssMiB = process.resourceUsage().maxRSS / 1024; // KiB → MiB, worker threads included
  console.log(JSON.stringify({ rows: rows.map((r) => ({ ...r, sizes, peakRssMiB })), backend: { name: backend.name, overrides: backend.kernelOverrides, versions: backend.versions, blas: backend.blas ?? null } }));
}

async function parent(): Promise<void> {
  const self = fileURLToPath(import.meta.url);
  const rows: Row[] = [];
  let backend: { name: string; overrides: string[]; versions: Record<string, string>; blas: string | null } | undefined;
  // The MLP first at each size: every other stage is reported as a ratio of it.
  for (const sizes of sizeNames) {
    for (const model of ["mlp" as const, ...models.filter((m) => m !== "mlp")]) {
      const out = execFileSync(
        process.execPath,
        ["--import", "tsx", self, "--child", "--sizes", sizes, "--models", model, "--steps", args.steps, "--warmup", args.warmup, "--replicas", args.replicas, "--dataset", args.dataset],
        { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 1 << 26 },
      );
      const result = JSON.parse(out.trim().split("\n").at(-1)!) as { rows: Row[]; backend: NonNullable<typeof backend> };
      backend = result.backend;
      for (const r of result.rows) {
        rows.push(r);
        const par = r.parallel ? `, ×${r.parallel.replicas} replicas ${Math.round(r.parallel.trainSamplesPerSecond)}` : "";
        console.error(`${sizes} ${r.model}/${r.stage}: train ${Math.round(r.trainSamplesPerSecond)} samples/s${par}, eval ${Math.round(r.evalSamplesPerSecond)}, peak RSS ${Math.round(r.peakRssMiB)} MiB`);
      }
    }
  }
  let torch: MlpVsTorchResult | undefined;
  if (args.torch && !args["no-torch"]) torch = await benchMlpVsTorch({ rounds: 3, steps: 4, replicas: Number(args.replicas) });

  if (args.json) {
    console.log(JSON.stringify({ date: new Date().toISOString(), backend, cpu: cpus()[0]?.model, cores: availableParallelism(), rows, torch }, null, 2));
    return;
  }
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  const blasNote = backend?.blas ? `OpenBLAS ${backend.blas}` : "no OpenBLAS";
  const best = (r: Row) => Math.max(r.trainSamplesPerSecond, r.parallel?.trainSamplesPerSecond ?? 0);
  console.log(`mkt bench:train — ${new Date().toISOString()}, ${cpus()[0]?.model ?? "unknown CPU"}, ${availableParallelism()} cores, node ${process.versions.node}`);
  console.log(`backend ${backend?.name} (overrides: ${backend?.overrides.join(", ") || "none"}), tfjs ${backend?.versions["tfjs"] ?? "?"}`);
  console.log(`OpenBLAS matmuls: ${backend?.blas ?? "not used"}; "1 replica" = the main thread alone (OpenBLAS may use more threads inside a large product)`);
  console.log(`${args.warmup} warm-up + ${args.steps} timed steps per stage (median); batch size and sizes from ${Object.values(SIZE_SPECS).join(" and ")}\n`);
  // "GFLOP/s × MLP's": the stage's matmul rate against the MLP's at the same sizes — samples/s
  // weighted by the arithmetic per sample, so a model doing more work per sample is not read as slow.
  console.log("| sizes | model / stage | rows | params | matmul MFLOP/sample | train samples/s, 1 replica | matmul GFLOP/s, 1 replica | GFLOP/s × MLP's | train samples/s, replicas | speed-up | best × MLP's best | eval samples/s, 1 replica | eval samples/s, replicas | peak RSS MiB |");
  console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    const mlp = rows.find((m) => m.sizes === r.sizes && m.model === "mlp")!;
    const par = r.parallel ? `${fmt(r.parallel.trainSamplesPerSecond)} (×${r.parallel.replicas})` : "—";
    const speedup = r.parallel ? (r.parallel.trainSamplesPerSecond / r.trainSamplesPerSecond).toFixed(2) : "—";
    const gflops = (x: Row) => (x.matmulMflopPerSample * x.trainSamplesPerSecond) / 1000;
    console.log(
      `| ${r.sizes} | ${r.model} / ${r.stage} | ${r.entities.join("+")} | ${fmt(r.trainableParameters)} | ${r.matmulMflopPerSample.toFixed(2)} | ${fmt(r.trainSamplesPerSecond)} | ${gflops(r).toFixed(1)} | ${(gflops(r) / gflops(mlp)).toFixed(2)} | ${par} | ${speedup} | ${(best(r) / best(mlp)).toFixed(2)} | ${fmt(r.evalSamplesPerSecond)} | ${r.parallel ? fmt(r.parallel.evalSamplesPerSecond) : "—"} | ${fmt(r.peakRssMiB)} |`,
    );
  }
  if (torch) {
    console.log(`\nDense MLP ${torch.inputWidth} → [${torch.layers.join(", ")}], batch ${torch.batch}, Adam, ${torch.stepsPerFramework} timed steps each, alternating:`);
    console.log(`- mkt, 1 replica (${blasNote}): ${fmt(torch.mkt.samplesPerSec)} samples/s`);
    if (torch.parallel) console.log(`- mkt, ${torch.parallel.replicas} replicas: ${fmt(torch.parallel.samplesPerSec)} samples/s (×${torch.parallel.speedup} of 1 replica)`);
    if (torch.torch) {
      console.log(`- PyTorch ${torch.torch.version}, ${torch.torch.threads} intra-op thread(s), BLAS ${torch.torch.blas} (${torch.torch.blasThreads} thread(s)): ${fmt(torch.torch.samplesPerSec)} samples/s`);
      console.log(`- mkt / PyTorch: ${torch.ratio} (1 replica)${torch.parallel?.ratio != null ? `, ${torch.parallel.ratio} (${torch.parallel.replicas} replicas)` : ""}`);
    } else console.log(`- PyTorch: not run (${torch.torchUnavailable ?? "unavailable"})`);
  }
}

await (args.child ? child() : parent());
