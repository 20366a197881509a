/**
 * `npm run bench:train`: every model's training stages against their PyTorch twins
 * (benchmarks/reference/twins_models.py: the same architecture, parameters, batches and Adam),
 * alternating run by run in one process tree, at the CPU sizes (experiments/douban.yaml) and the
 * paper's (experiments/paper-gpu.yaml), on a prepared dataset (default: douban-book-music).
 *
 * Per (sizes, model) a child process runs the model's recipe through the stage runner with a visit
 * that measures each stage instead of training it (measureStages, model-steps.ts). At each stage it
 * writes the stage's initial weights and its batches (the very tensors mkt's model gets) for a
 * PyTorch worker (benchmarks/reference/twins.py), checks that the twin has the same tensors by
 * name and size and computes the same loss and predictions from the same weights, then times, in
 * `rounds` rounds alternating which side goes first:
 * - train step: the same batch repeatedly, tensors ready (warm-up steps, then timed ones);
 * - eval step: predicting the same eval batch repeatedly;
 * - train epoch: mkt's trainModel over the prepared training split (reading Parquet, shuffling,
 *   batching, one pass, no validation) against the twin's pass over the same batches in the same
 *   order, held in memory as tensors before timing (as the PyTorch libraries read in-memory tensors);
 * - eval epoch: mkt's evaluateSplit over the target test split (reading Parquet) against the twin
 *   predicting the same batches from memory; each side's second pass in a row (its first, after the
 *   other side ran, is slowed by caches holding the other process's data).
 * Figures: samples/s, median over rounds; ratio mkt ÷ PyTorch.
 *
 * Usage: npm run bench:train [-- --sizes cpu,paper] [--models mlp,din,...] [--rounds 4] [--steps 6]
 *        [--warmup 2] [--dataset datasets/douban-book-music.yaml] [--python PATH] [--no-epoch]
 *        [--torch-malloc tuned|default] [--out results/bench] [--json] [--save FILE]
 * --save FILE appends each (sizes, model)'s result to FILE as a JSON line when it is done;
 * --table FILE[,FILE…] prints the table of saved results (nothing is run; a stage saved by several
 * runs has their rounds pooled). --rounds 0 only builds and checks the twins
 * (test/benchmarks/twins.test.ts). A child process takes a comma list of models.
 * With --no-torch it runs the mkt-only throughput table of benchmarks/train.ts instead.
 */
import * as tf from "@tensorflow/tfjs";
import { execFileSync } from "node:child_process";
import { appendFile, open, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { Batch, EntityName } from "../src/data/batch.ts";
import { prepareDataset } from "../src/data/prepare/index.ts";
import { PreparedDataset } from "../src/data/reader.ts";
import { selectBackend, type BackendInfo } from "../src/engine/backend.ts";
import { batchToTensors, disposeBatchTensors, type BatchTensors } from "../src/models/inputs.ts";
import { sectionsOf } from "../src/models/definition.ts";
import { mktSections } from "../src/models/mkt/sections.ts";
import type { CtrModel } from "../src/models/model.ts";
import { modelDefinitions, modelNames, recipeFor } from "../src/models/registry.ts";
import { datasetSpecSchema } from "../src/spec/dataset.ts";
import { experimentSpecSchema, type ExperimentSpec } from "../src/spec/experiment.ts";
import { loadSpec } from "../src/spec/load.ts";
import { Adam } from "../src/train/adam.ts";
import { evaluateSplit } from "../src/train/evaluate.ts";
import { trainModel } from "../src/train/trainer.ts";
import { measureStages } from "./model-steps.ts";
import { TorchReference } from "./reference/torch.ts";
import { median } from "./stats.ts";

const { values: args } = parseArgs({
  options: {
    sizes: { type: "string", default: "cpu,paper" },
    models: { type: "string", default: modelNames().join(",") },
    rounds: { type: "string", default: "4" },
    steps: { type: "string", default: "6" },
    warmup: { type: "string", default: "2" },
    dataset: { type: "string", default: "datasets/douban-book-music.yaml" },
    /** Where the dataset is prepared (prepared/<name> under it). */
    out: { type: "string", default: join("results", "bench") },
    python: { type: "string" },
    "torch-malloc": { type: "string", default: "tuned" },
    epoch: { type: "boolean", default: true },
    "no-epoch": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    save: { type: "string" },
    table: { type: "string" },
    child: { type: "boolean", default: false },
    "no-torch": { type: "boolean", default: false },
    // benchmarks/train.ts's options, passed on with --no-torch
    replicas: { type: "string" },
  },
  strict: true,
});

/** The sizes of each size set; the training settings (batch 1024, Adam 1e-3) are the CPU spec's for both. */
const SIZE_SPECS: Record<string, string> = { cpu: "experiments/douban.yaml", paper: "experiments/paper-gpu.yaml" };
const TWINS_SCRIPT = fileURLToPath(new URL("./reference/twins.py", import.meta.url));
/**
 * glibc's malloc maps every block over its mmap threshold afresh and unmaps it on free, so each of
 * PyTorch's large intermediate tensors (an eval batch's [8192, 20, 36] is 23 MB) page-faults in
 * anew: its DIN predictions ran 12× slower here than with these settings (heap only, never
 * trimmed), which PyTorch users get from jemalloc or tcmalloc. "tuned" (default) gives the twin
 * them; "default" runs it as shipped. mkt's tensors live in the wasm heap, which never shrinks.
 */
const TUNED_MALLOC = { MALLOC_MMAP_MAX_: "0", MALLOC_TRIM_THRESHOLD_: "4000000000" };

/** Largest |mkt − twin| accepted on the first loss (relative to max(1, |loss|)) and on any probability. */
const LOSS_TOLERANCE = 1e-4;
const PREDICTION_TOLERANCE = 1e-4;

const int = (name: string, v: string, min: number): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: expected an integer ≥ ${min}, got '${v}'`);
  return n;
};

/** samples/s of one measure on both sides, every round, and their medians. */
export interface PairFigures {
  mkt: number[];
  torch: number[];
  mktMedian: number;
  torchMedian: number;
  /** mktMedian ÷ torchMedian. */
  ratio: number;
}

export interface TwinRow {
  sizes: string;
  model: string;
  stage: string;
  entities: EntityName[];
  /** Trainable parameters (mkt's count; the twin's is asserted equal, tensor by tensor). */
  parameters: number;
  /** The check before timing: first loss on each side, and the largest probability difference on an eval batch. */
  check: { mktLoss: number; torchLoss: number; maxPredictionDiff: number };
  trainStep: PairFigures;
  evalStep: PairFigures;
  trainEpoch?: PairFigures;
  evalEpoch?: PairFigures;
  trainRows: number;
  evalRows: number;
}

/** Figures of the twin's worker, once per run. */
export interface TorchInfo {
  version: string;
  python: string;
  threads: number;
  blas: string;
  blasThreads: number | null;
}

// ---------------------------------------------------------------------------------------------
// Batch sets: the tensors mkt's model gets, written for the PyTorch worker (layout in twins.py).

interface SetIndex {
  columns: string[];
  sequences: { name: string; maxlen: number; elements: string[] }[];
  batches: { size: number; source: number; offset: number }[];
}

/** Appends batches (as BatchTensors: source rows first) to `<path>.bin` and writes `<path>.json` on close. */
class BatchSetWriter {
  private index: SetIndex | undefined;
  private offset = 0;
  private constructor(
    private readonly path: string,
    private readonly file: Awaited<ReturnType<typeof open>>,
  ) {}

  static async create(path: string): Promise<BatchSetWriter> {
    return new BatchSetWriter(path, await open(`${path}.bin`, "w"));
  }

  async add(t: BatchTensors): Promise<void> {
    const columns = Object.keys(t.features).sort();
    const sequences = Object.entries(t.sequences)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, s]) => ({ name, maxlen: s.mask.shape[1], elements: Object.keys(s.ids).sort() }));
    this.index ??= { columns, sequences, batches: [] };
    if (JSON.stringify([columns, sequences]) !== JSON.stringify([this.index.columns, this.index.sequences])) throw new Error("batch set: batches of different layouts");
    const arrays: ArrayBufferView[] = [t.label.dataSync()];
    for (const c of columns) arrays.push(t.features[c]!.dataSync());
    for (const s of sequences) {
      const seq = t.sequences[s.name]!;
      arrays.push(seq.mask.dataSync());
      for (const e of s.elements) arrays.push(seq.ids[e]!.dataSync());
    }
    this.index.batches.push({ size: t.size, source: t.counts.source, offset: this.offset });
    for (const a of arrays) {
      const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
      await this.file.write(bytes);
      this.offset += bytes.byteLength;
    }
  }

  async close(): Promise<number> {
    await this.file.close();
    if (this.index === undefined) throw new Error(`${this.path}: no batches`);
    await writeFile(`${this.path}.json`, JSON.stringify(this.index));
    return this.index.batches.reduce((n, b) => n + b.size, 0);
  }
}

async function writeSet(path: string, batches: AsyncIterable<Batch>, dataset: PreparedDataset, keep: number): Promise<{ rows: number; kept: BatchTensors[] }> {
  const writer = await BatchSetWriter.create(path);
  const kept: BatchTensors[] = [];
  for await (const batch of batches) {
    const t = batchToTensors(batch);
    dataset.recycle(batch);
    await writer.add(t);
    if (kept.length < keep) kept.push(t);
    else disposeBatchTensors(t);
  }
  return { rows: await writer.close(), kept };
}

// ---------------------------------------------------------------------------------------------
// mkt's side of each measure.

/** trainStep (src/train/trainer.ts) on tensors already made: one Adam step, the loss and its parts read back. */
async function mktStep(model: CtrModel, optimizer: Adam, variables: tf.Variable[], t: BatchTensors): Promise<number> {
  const kept: tf.Tensor[] = [];
  try {
    tf.tidy(() =>
      optimizer.minimize(() => {
        const { total, parts } = model.loss(t);
        kept.push(tf.keep(tf.stack([total, ...Object.values(parts)])));
        return total;
      }, variables),
    );
    return (await kept[0]!.data())[0]!;
  } finally {
    tf.dispose(kept);
  }
}

async function mktPredict(model: CtrModel, t: BatchTensors): Promise<Float32Array> {
  const p = tf.tidy(() => model.predictTarget(t));
  try {
    return (await p.data()) as Float32Array;
  } finally {
    p.dispose();
  }
}

async function timed(count: number, f: () => Promise<unknown>): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await f();
    ms.push(performance.now() - t0);
  }
  return ms;
}

const perSecond = (rows: number, ms: number) => (rows / ms) * 1000;

/** Both sides' figures of one measure, every round, and their medians. */
function pairFigures(mkt: number[], torch: number[]): PairFigures {
  const mktMedian = mkt.length > 0 ? median(mkt) : NaN;
  const torchMedian = torch.length > 0 ? median(torch) : NaN;
  return { mkt, torch, mktMedian, torchMedian, ratio: mktMedian / torchMedian };
}

// ---------------------------------------------------------------------------------------------
// One stage against its twin.

interface StageContext {
  sizes: string;
  recipe: string;
  stage: string;
  model: CtrModel;
  entities: EntityName[];
  dataset: PreparedDataset;
  spec: ExperimentSpec;
  rounds: number;
  steps: number;
  warmup: number;
  epoch: boolean;
  python?: string;
  malloc: "tuned" | "default";
}

let torchInfo: TorchInfo | undefined;

async function measureStage(s: StageContext): Promise<TwinRow> {
  const { model, dataset, spec } = s;
  const training = spec.training;
  const dir = await mkdtemp(join(tmpdir(), "mkt-twins-"));
  const tensors: BatchTensors[] = [];
  let twin: TorchReference | undefined;
  const optimizer = new Adam(training.learning_rate);
  try {
    // The batches: the step batch (the first of a shuffled pass), the target test split, and for
    // the epoch exactly the pass trainModel makes in its first epoch (seed + 1).
    const seed = 1;
    const read = { split: "train" as const, entities: s.entities, batchSize: training.batch_size };
    const stepSet = await writeSet(join(dir, "steps"), dataset.batches({ ...read, shuffle: { bufferRows: training.shuffle_buffer, seed: 7 } }), dataset, 1);
    tensors.push(...stepSet.kept);
    const evalSet = await writeSet(join(dir, "eval"), dataset.batches({ split: "test", entities: ["target"], batchSize: training.eval_batch_size }), dataset, 1);
    tensors.push(...evalSet.kept);
    const sets: Record<string, string> = { steps: join(dir, "steps"), eval: join(dir, "eval") };
    let trainRows = 0;
    if (s.epoch) {
      const epochSet = await writeSet(join(dir, "epoch"), dataset.batches({ ...read, shuffle: { bufferRows: training.shuffle_buffer, seed: seed + 1 } }), dataset, 0);
      trainRows = epochSet.rows;
      sets["epoch"] = join(dir, "epoch");
    }
    const stepBatch = stepSet.kept[0]!;
    const evalBatch = evalSet.kept[0]!;

    // The stage's weights now (initial, or trained by earlier rounds for a later stage's frozen parts).
    const named = [...model.module.namedVariables()];
    const trainable = new Set(model.trainableVariables());
    const weights = await open(join(dir, "weights.bin"), "w");
    for (const [, v] of named) {
      const data = (await v.data()) as Float32Array;
      await weights.write(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
    await weights.close();
    const layout = {
      recipe: s.recipe,
      stage: s.stage,
      schema: dataset.schema,
      sizes: spec.sizes,
      sections: modelSections(spec),
      adam: { lr: optimizer.learningRate, beta1: optimizer.beta1, beta2: optimizer.beta2, epsilon: optimizer.epsilon },
      tensors: named.map(([name, v]) => ({ name, shape: v.shape, trainable: trainable.has(v) })),
      weights: join(dir, "weights.bin"),
      sets,
    };
    await writeFile(join(dir, "layout.json"), JSON.stringify(layout));

    const env = s.malloc === "tuned" ? { ...process.env, ...TUNED_MALLOC } : process.env;
    const opened = await TorchReference.open({ script: TWINS_SCRIPT, env, ...(s.python !== undefined ? { python: s.python } : {}) });
    if (!opened.available) throw new Error(`PyTorch unavailable: ${opened.reason}`);
    twin = opened.reference;
    const init = await twin.request({ cmd: "init", layout: join(dir, "layout.json") });
    torchInfo ??= {
      version: String(init["torch"]),
      python: twin.python,
      threads: Number(init["threads"]),
      blas: String(init["blas"]),
      blasThreads: typeof init["blas_threads"] === "number" ? init["blas_threads"] : null,
    };
    // Same tensors, by name and size, and the same ones trained.
    const theirs = new Map((init["tensors"] as [string, number, boolean][]).map(([name, size, grad]) => [name, { size, grad }]));
    for (const [name, v] of named) {
      const t = theirs.get(name);
      if (t === undefined || t.size !== v.size || t.grad !== trainable.has(v)) {
        throw new Error(`${s.recipe}/${s.stage}: twin tensor ${name}: ${JSON.stringify(t)} vs mkt size ${v.size}, trainable ${trainable.has(v)}`);
      }
    }
    const parameters = [...trainable].reduce((n, v) => n + v.size, 0);
    const torchParameters = [...theirs.values()].reduce((n, t) => n + (t.grad ? t.size : 0), 0);
    if (theirs.size !== named.length || torchParameters !== parameters) throw new Error(`${s.recipe}/${s.stage}: twin has ${torchParameters} trainable parameters in ${theirs.size} tensors, mkt ${parameters} in ${named.length}`);

    // Same loss and predictions from the same weights (the loss in training mode moves both sides' moving statistics alike).
    const mktLoss = tf.tidy(() => model.loss(stepBatch).total.dataSync()[0]!);
    const torchLoss = Number((await twin.request({ cmd: "loss", set: "steps", index: 0 }))["loss"]);
    if (!(Math.abs(mktLoss - torchLoss) <= LOSS_TOLERANCE * Math.max(1, Math.abs(mktLoss)))) {
      throw new Error(`${s.recipe}/${s.stage}: loss ${mktLoss} (mkt) vs ${torchLoss} (twin) on the same batch and weights`);
    }
    const mktP = await mktPredict(model, evalBatch);
    const torchP = (await twin.request({ cmd: "predict", set: "eval", index: 0 }))["p"] as number[];
    let maxPredictionDiff = 0;
    for (let i = 0; i < mktP.length; i++) maxPredictionDiff = Math.max(maxPredictionDiff, Math.abs(mktP[i]! - torchP[i]!));
    if (!(maxPredictionDiff <= PREDICTION_TOLERANCE) || torchP.length !== mktP.length) {
      throw new Error(`${s.recipe}/${s.stage}: predictions differ by up to ${maxPredictionDiff} from the twin's`);
    }
    console.error(`${s.sizes} ${s.recipe}/${s.stage}: ${parameters.toLocaleString("en-US")} parameters on both sides; loss ${mktLoss.toFixed(6)} vs ${torchLoss.toFixed(6)}, predictions within ${maxPredictionDiff.toExponential(1)}`);

    const variables = model.trainableVariables();
    const figures = { trainStep: [[], []], evalStep: [[], []], trainEpoch: [[], []], evalEpoch: [[], []] } as Record<string, [number[], number[]]>;
    const measures: { name: string; mkt: () => Promise<number>; torch: () => Promise<number> }[] = [
      {
        name: "trainStep",
        mkt: async () => {
          await timed(s.warmup, () => mktStep(model, optimizer, variables, stepBatch));
          return perSecond(stepBatch.size, median(await timed(s.steps, () => mktStep(model, optimizer, variables, stepBatch))));
        },
        torch: async () => {
          await twin!.request({ cmd: "steps", set: "steps", index: 0, count: s.warmup });
          return perSecond(stepBatch.size, median((await twin!.request({ cmd: "steps", set: "steps", index: 0, count: s.steps }))["ms"] as number[]));
        },
      },
      {
        name: "evalStep",
        mkt: async () => {
          await mktPredict(model, evalBatch);
          return perSecond(evalBatch.size, median(await timed(Math.max(3, s.steps >> 1), () => mktPredict(model, evalBatch))));
        },
        torch: async () => {
          const ms = ((await twin!.request({ cmd: "evals", set: "eval", index: 0, count: 1 + Math.max(3, s.steps >> 1) }))["ms"] as number[]).slice(1);
          return perSecond(evalBatch.size, median(ms));
        },
      },
    ];
    if (s.epoch) {
      measures.push(
        {
          name: "trainEpoch",
          mkt: async () => {
            const result = await trainModel(model, dataset, { training, seed, entities: s.entities, validation: "none", maxEpochs: 1, progress: false });
            const e = result.epochs[0]!;
            if (e.samples !== trainRows) throw new Error(`${s.recipe}/${s.stage}: trainModel read ${e.samples} rows, the twin's epoch has ${trainRows}`);
            return e.samplesPerSecond;
          },
          torch: async () => {
            const r = await twin!.request({ cmd: "epoch", set: "epoch" });
            return Number(r["samples"]) / Number(r["seconds"]);
          },
        },
        {
          name: "evalEpoch",
          // Each side's second pass: the first after the other side ran finds the caches holding the
          // other process's data (a ~0.15 s epoch then takes up to a third longer).
          mkt: async () => {
            const pass = () => evaluateSplit(model, dataset, { split: "test", batchSize: training.eval_batch_size });
            await pass();
            return (await pass()).samplesPerSecond;
          },
          torch: async () => {
            await twin!.request({ cmd: "eval_epoch", set: "eval" });
            const r = await twin!.request({ cmd: "eval_epoch", set: "eval" });
            return Number(r["samples"]) / Number(r["seconds"]);
          },
        },
      );
    }
    for (let r = 0; r < s.rounds; r++) {
      for (const m of measures) {
        const order = r % 2 === 0 ? (["mkt", "torch"] as const) : (["torch", "mkt"] as const);
        for (const side of order) figures[m.name]![side === "mkt" ? 0 : 1].push(await m[side]());
      }
      const line = measures.map((m) => `${m.name} ${Math.round(figures[m.name]![0].at(-1)!)}/${Math.round(figures[m.name]![1].at(-1)!)}`).join(", ");
      console.error(`  round ${r + 1}/${s.rounds} (mkt/torch samples/s): ${line}`);
    }
    const pair = (name: string): PairFigures => pairFigures(...figures[name]!);
    return {
      sizes: s.sizes,
      model: s.recipe,
      stage: s.stage,
      entities: s.entities,
      parameters,
      check: { mktLoss, torchLoss, maxPredictionDiff },
      trainStep: pair("trainStep"),
      evalStep: pair("evalStep"),
      ...(s.epoch ? { trainEpoch: pair("trainEpoch"), evalEpoch: pair("evalEpoch") } : {}),
      trainRows,
      evalRows: evalSet.rows,
    };
  } finally {
    optimizer.dispose();
    for (const t of tensors) disposeBatchTensors(t);
    await twin?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Processes: a child per (sizes, model); the parent prints the table.

async function child(): Promise<void> {
  const backend = await selectBackend("auto");
  const datasetSpec = await loadSpec(args.dataset, datasetSpecSchema);
  const prepared = await prepareDataset(datasetSpec.value, datasetSpec.dir, { outRoot: args.out });
  const dataset = await PreparedDataset.open(prepared.dir);
  const sizes = args.sizes;
  const base = (await loadSpec(SIZE_SPECS["cpu"]!, experimentSpecSchema)).value;
  // CTNet as two stages (source, then target) whatever the split: continual training's per-slice stages train the same two models.
  const spec = { ...base, sizes: (await loadSpec(SIZE_SPECS[sizes]!, experimentSpecSchema)).value.sizes, ctnet: { continual: false } } as ExperimentSpec;
  const { mem, tem } = sectionsOf(mktSections, spec);
  if (mem.loss_weighting !== "rows" || tem.knowledge !== "common") throw new Error("the twins implement MEM's loss weighting 'rows' and TEM's knowledge 'common' only");
  const rows: TwinRow[] = [];
  for (const name of args.models.split(",")) {
    const recipe = recipeFor(name);
    await measureStages(recipe, dataset, spec, async ({ stage, model, entities }) => {
      rows.push(
        await measureStage({
          sizes,
          recipe: recipe.name,
          stage,
          model,
          entities,
          dataset,
          spec,
          rounds: int("rounds", args.rounds, 0),
          steps: int("steps", args.steps, 1),
          warmup: int("warmup", args.warmup, 0),
          epoch: args.epoch && !args["no-epoch"],
          malloc: mallocSetting(),
          ...(args.python !== undefined ? { python: args.python } : {}),
        }),
      );
    });
  }
  dataset.close();
  console.log(JSON.stringify({ rows, torch: torchInfo, backend: describeBackend(backend), rows_dataset: prepared.dir }));
}

/** Every registered model's own spec sections (e.g. gamma, mem, mmoe, fibinet), defaults filled: the twins read theirs. */
function modelSections(spec: ExperimentSpec): Record<string, unknown> {
  return Object.assign({}, ...modelDefinitions().map((m) => sectionsOf(m.sections ?? {}, spec)));
}

function mallocSetting(): "tuned" | "default" {
  const m = args["torch-malloc"];
  if (m !== "tuned" && m !== "default") throw new Error(`--torch-malloc: expected tuned or default, got '${m}'`);
  return m;
}

function describeBackend(b: BackendInfo) {
  return { name: b.name, overrides: b.kernelOverrides, versions: b.versions, blas: b.blas ?? null };
}

async function parent(): Promise<void> {
  const self = fileURLToPath(import.meta.url);
  const sizeNames = args.sizes.split(",");
  const models = args.models.split(",");
  for (const m of models) if (!modelNames().includes(m)) throw new Error(`--models: unknown model '${m}'`);
  for (const s of sizeNames) if (!(s in SIZE_SPECS)) throw new Error(`--sizes: expected cpu and/or paper, got '${s}'`);
  const rows: TwinRow[] = [];
  let torch: TorchInfo | undefined;
  let backend: ReturnType<typeof describeBackend> | undefined;
  const passOn = ["--torch-malloc", mallocSetting(), "--rounds", args.rounds, "--steps", args.steps, "--warmup", args.warmup, "--dataset", args.dataset, "--out", args.out, ...(args.python ? ["--python", args.python] : []), ...(args.epoch && !args["no-epoch"] ? [] : ["--no-epoch"])];
  for (const sizes of sizeNames) {
    for (const model of models) {
      const out = execFileSync(process.execPath, ["--expose-gc", "--import", "tsx", self, "--child", "--sizes", sizes, "--models", model, ...passOn], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "inherit"],
        maxBuffer: 1 << 26,
      });
      const line = out.trim().split("\n").at(-1)!;
      const result = JSON.parse(line) as ChildResult;
      if (args.save !== undefined) await appendFile(args.save, JSON.stringify({ ...result, date: new Date().toISOString(), malloc: mallocSetting(), rounds: args.rounds, steps: args.steps, warmup: args.warmup, dataset: args.dataset }) + "\n");
      rows.push(...result.rows);
      torch = result.torch;
      backend = result.backend;
    }
  }
  if (args.json) {
    console.log(JSON.stringify({ date: new Date().toISOString(), cpu: cpus()[0]?.model, cores: cpus().length, backend, torch, rows }, null, 2));
    return;
  }
  printTable(rows, torch, backend, { malloc: mallocSetting(), rounds: args.rounds, steps: args.steps, warmup: args.warmup, dataset: args.dataset, date: new Date().toISOString() });
}

interface ChildResult {
  rows: TwinRow[];
  torch: TorchInfo;
  backend: ReturnType<typeof describeBackend>;
}

interface RunSettings {
  malloc: string;
  rounds: string;
  steps: string;
  warmup: string;
  dataset: string;
  date: string;
}

const MEASURES = ["trainStep", "evalStep", "trainEpoch", "evalEpoch"] as const;

/** One row of a stage measured by several runs: their rounds pooled (each run alternates which side goes first). */
function poolRounds(a: TwinRow, b: TwinRow): TwinRow {
  const pooled: TwinRow = { ...a };
  for (const m of MEASURES) {
    const x = a[m];
    const y = b[m];
    if (x === undefined || y === undefined) delete pooled[m as "trainEpoch"];
    else pooled[m] = pairFigures([...x.mkt, ...y.mkt], [...x.torch, ...y.torch]);
  }
  return pooled;
}

/** The table of results saved with --save, in file order; a stage saved by several runs has their rounds pooled. */
async function tableFromFiles(files: string[]): Promise<void> {
  const saved: (ChildResult & RunSettings)[] = [];
  for (const file of files) for (const line of (await readFile(file, "utf8")).split("\n")) if (line.trim() !== "") saved.push(JSON.parse(line) as ChildResult & RunSettings);
  const last = saved.at(-1);
  if (last === undefined) throw new Error(`--table: no results in ${files.join(", ")}`);
  const differing = (["malloc", "rounds", "steps", "warmup", "dataset"] as const).filter((k) => new Set(saved.map((r) => r[k])).size > 1);
  if (differing.length > 0) console.log(`note: the saved runs differ in ${differing.map((k) => `${k} (${[...new Set(saved.map((r) => r[k]))].join(", ")})`).join("; ")}`);
  const dates = saved.map((r) => r.date).sort();
  const rows = new Map<string, TwinRow>();
  for (const row of saved.flatMap((r) => r.rows)) {
    const key = `${row.sizes} ${row.model}/${row.stage}`;
    const earlier = rows.get(key);
    rows.set(key, earlier === undefined ? row : poolRounds(earlier, row));
  }
  const rounds = [...new Set([...rows.values()].map((r) => r.trainStep.mkt.length))].join(" or ");
  printTable([...rows.values()], last.torch, last.backend, { ...last, rounds, date: `${dates[0]} to ${dates.at(-1)}` });
}

function printTable(rows: TwinRow[], torch: TorchInfo | undefined, backend: ChildResult["backend"] | undefined, run: RunSettings): void {
  const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
  // Without rounds (--rounds 0: checks only) there are no figures (NaN, null once sent as JSON).
  const cell = (p: PairFigures | undefined) => (p === undefined || p.mkt.length === 0 ? "— | — | —" : `${fmt(p.mktMedian)} | ${fmt(p.torchMedian)} | **${p.ratio.toFixed(2)}**`);
  console.log(`mkt bench:train against PyTorch twins — ${run.date}, ${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores, node ${process.versions.node}`);
  console.log(`mkt: ${backend?.name} backend, tfjs ${backend?.versions["tfjs"] ?? "?"}, OpenBLAS ${backend?.blas ?? "not used"}, kernel overrides: ${backend?.overrides.length ?? 0}`);
  console.log(`PyTorch ${torch?.version} (${torch?.python}), ${torch?.threads} intra-op thread(s), BLAS ${torch?.blas} (${torch?.blasThreads ?? "?"} thread(s)), malloc ${run.malloc === "tuned" ? Object.entries(TUNED_MALLOC).map(([k, v]) => `${k}=${v}`).join(" ") : "as shipped"}`);
  console.log(`dataset ${run.dataset}; sizes: cpu = ${SIZE_SPECS["cpu"]}, paper = ${SIZE_SPECS["paper"]}; batch 1024, eval batch 8,192, Adam lr 1e-3, β 0.9/0.999, ε 1e-7`);
  console.log(`samples/s, median of ${run.rounds} alternating rounds (step: median of ${run.steps} timed steps after ${run.warmup} warm-up)\n`);
  console.log("| sizes | model / stage | parameters | train step mkt | PyTorch | × | train epoch mkt | PyTorch | × | eval step mkt | PyTorch | × | eval epoch mkt | PyTorch | × |");
  console.log("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const r of rows) {
    console.log(`| ${r.sizes} | ${r.model} / ${r.stage} | ${fmt(r.parameters)} | ${cell(r.trainStep)} | ${cell(r.trainEpoch)} | ${cell(r.evalStep)} | ${cell(r.evalEpoch)} |`);
  }
}

if (args["no-torch"]) {
  // The mkt-only table (replicas, matmul rates) of benchmarks/train.ts, as `bench:train --no-torch` always gave.
  const passed = process.argv.slice(2);
  execFileSync(process.execPath, ["--expose-gc", "--import", "tsx", fileURLToPath(new URL("./train.ts", import.meta.url)), ...passed], { stdio: "inherit" });
} else if (args.table !== undefined) {
  await tableFromFiles(args.table.split(","));
} else if (args.child) {
  // The failed check's message alone: an uncaught error here is rethrown by tfjs-wasm's handler, which prints its whole minified source.
  await child().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  });
} else {
  await parent();
}
