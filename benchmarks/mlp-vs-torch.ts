/**
 * Issue 6 ("train as fast as PyTorch on the same CPU"): the same dense MLP (benchmarks/dense-mlp.ts;
 * default hidden [1024, 512, 64] → 1 logit, 1024-wide input, batch 1024, Adam 1e-3, sigmoid
 * cross-entropy) trained by mkt — tfjs on the backend `auto` picks, with mkt's kernel overrides —
 * and by PyTorch (benchmarks/reference/torch_mlp.py, a separate process), on identical batches.
 *
 * Both warm up (2 steps each), then for each round one framework runs `steps` timed steps and the
 * other the same number on the same batch indices, the order flipped every round so drift (the
 * machine is shared) hits both alike. Figures: median per-step time → samples/s; ratio mkt/torch.
 * Torch runs at its default thread count unless told otherwise; `perCore` adds a 1-thread torch
 * worker to the same rounds so a per-core ratio can be read too (mkt on wasm uses one thread).
 *
 * Timing assumes the tfjs backend runs synchronously (wasm, cpu, node): step() returns when done.
 *
 * Run directly: `npx tsx benchmarks/mlp-vs-torch.ts [rounds] [steps] [--torch-threads N] [--per-core]
 * [--python PATH]`; progress goes to stderr, the result as JSON to stdout.
 */
import * as tf from "@tensorflow/tfjs";
import { mkdtemp, rm } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { selectBackend } from "../src/engine/backend.ts";
import { ReplicaGroup } from "../src/train/parallel/group.ts";
import type { ReplicaModel } from "../src/train/parallel/replica.ts";
import { createDenseMlpTrainer, makeBatches, writeBatchFile } from "./dense-mlp.ts";
import { buildDenseReplica, denseRows, type DenseReplicaArgs, type DenseRows } from "./dense-replica.ts";
import { median } from "./stats.ts";
import { TorchReference, type TorchInitReply } from "./reference/torch.ts";

export interface MlpVsTorchOptions {
  /** Alternating rounds; default 3. */
  rounds?: number;
  /** Timed steps per framework per round; default 4. */
  steps?: number;
  /** Distinct batches, cycled; default 8. */
  batches?: number;
  batch?: number;
  inputWidth?: number;
  layers?: number[];
  seed?: number;
  /** torch.set_num_threads for the main comparison; 0 (default) keeps torch's default. */
  torchThreads?: number;
  /** Also time a 1-thread torch worker in the same rounds (the main one serves if it has 1 thread). */
  perCore?: boolean;
  /** Interpreter for the torch worker (see benchmarks/reference/torch.ts for the default search). */
  python?: string;
  /** Also time mkt's data-parallel training with this many replicas (default: one per core; ≤ 1: skip). */
  replicas?: number;
}

export interface FrameworkFigures {
  samplesPerSec: number;
  medianStepMs: number;
  /** Mean loss on batch 0 before and after all the steps (a check that both really train). */
  loss: { before: number; after: number };
}

export interface TorchFigures extends FrameworkFigures {
  version: string;
  python: string;
  threads: number;
  blas: string;
  blasThreads: number | null;
}

export interface MlpVsTorchResult {
  backend: string;
  versions: Record<string, string>;
  kernelOverrides: string[];
  /** Threads the tfjs wasm backend computes with (null on other backends). */
  mktThreads: number | null;
  batch: number;
  inputWidth: number;
  layers: number[];
  batches: number;
  /** Timed steps per framework (rounds × steps). */
  stepsPerFramework: number;
  mkt: FrameworkFigures;
  torch: TorchFigures | null;
  /** Why torch could not run (when torch is null). */
  torchUnavailable?: string;
  /** mkt samples/s ÷ torch samples/s (null without torch). */
  ratio: number | null;
  /** The 1-thread torch worker (perCore), and mkt ÷ it. */
  perCore?: { torch: TorchFigures; ratio: number };
  /** mkt with data-parallel replicas (worker threads), and its ratios to torch and to mkt alone. */
  parallel?: FrameworkFigures & { replicas: number; ratio: number | null; speedup: number };
}

/** torch's own threads and its BLAS's (OpenBLAS keeps a pool of its own) are both 1. */
const oneThreaded = (t: { threads: number; blasThreads: number | null }) => t.threads === 1 && (t.blasThreads ?? 1) === 1;
const sps = (batch: number, ms: number) => (batch / ms) * 1000;
const fmt = (batch: number, ms: number[]) => ms.map((t) => sps(batch, t).toFixed(0)).join(" ");

export async function benchMlpVsTorch(options: MlpVsTorchOptions = {}): Promise<MlpVsTorchResult> {
  const rounds = options.rounds ?? 3;
  const steps = options.steps ?? 4;
  const count = options.batches ?? 8;
  const batch = options.batch ?? 1024;
  const inputWidth = options.inputWidth ?? 1024;
  const layers = options.layers ?? [1024, 512, 64, 1];
  const seed = options.seed ?? 1;

  const info = await selectBackend("auto");
  let mktThreads: number | null = null;
  if (info.name === "wasm") mktThreads = (await import("@tensorflow/tfjs-backend-wasm")).getThreadsCount();

  const data = makeBatches({ batch, inputWidth, count, seed });
  const dir = await mkdtemp(path.join(tmpdir(), "mkt-mlp-vs-torch-"));
  const dataFile = path.join(dir, "batches.f32");
  const trainer = createDenseMlpTrainer({ batch, inputWidth, layers, seed: seed + 1 }, data);
  const replicas = options.replicas ?? availableParallelism();
  let group: ReplicaGroup<DenseRows> | undefined;
  let mainReplica: ReplicaModel<DenseRows> | undefined;
  const rowsOf = (i: number): DenseRows => ({ ...data[i % data.length]!, width: inputWidth });

  // Torch workers: the main one, and with perCore a 1-thread one (started only if it differs).
  type TorchWorker = { label: string; ref: TorchReference; init: TorchInitReply };
  const workers: TorchWorker[] = [];
  let torchUnavailable: string | undefined;
  try {
    await writeBatchFile(dataFile, data);
    const wanted = [{ label: "torch", threads: options.torchThreads ?? 0 }];
    if (options.perCore === true) wanted.push({ label: "torch-1t", threads: 1 });
    for (const { label, threads } of wanted) {
      if (label === "torch-1t" && workers[0] !== undefined && oneThreaded(workers[0].init)) continue; // main one is
      const opened = await TorchReference.open(options.python === undefined ? {} : { python: options.python });
      if (!opened.available) {
        torchUnavailable = opened.reason;
        break;
      }
      const ref = opened.reference;
      const init = await ref
        .init({ data: dataFile, batch, input: inputWidth, layers, batches: count, threads, seed: seed + 1 })
        .catch(async (err: unknown) => {
          await ref.close(); // not in `workers` yet: the finally below would not stop it
          throw err;
        });
      workers.push({ label, ref, init });
    }
    if (torchUnavailable !== undefined) console.error(`torch unavailable: ${torchUnavailable}`);
    if (replicas > 1) {
      const args: DenseReplicaArgs = { inputWidth, layers, seed: seed + 1 };
      const factory = { module: new URL("./dense-replica.ts", import.meta.url).href, exportName: "buildDenseReplica", args };
      mainReplica = await buildDenseReplica(args);
      group = await ReplicaGroup.start(mainReplica, denseRows, { replicas, factory, learningRate: 1e-3, backend: info.name, kernelOverrides: info.kernelOverrides.length > 0 });
      await group.step(rowsOf(0));
      await group.step(rowsOf(1));
    }

    // Same schedule for everybody: initial loss, 2 warm-up steps on batches 0 and 1, then per
    // round one untimed step after the switch (batch start-1) and `steps` timed ones (start…).
    const before = { mkt: trainer.loss(0), torch: await Promise.all(workers.map((w) => w.ref.loss(0))) };
    trainer.step(0);
    trainer.step(1);
    for (const w of workers) await w.ref.run(2, 0);

    const mktMs: number[] = [];
    const parallelMs: number[] = [];
    const torchMs: number[][] = workers.map(() => []);
    for (let r = 0; r < rounds; r++) {
      const start = 2 + r * (steps + 1) + 1;
      const runMkt = () => {
        trainer.step(start - 1);
        const ms: number[] = [];
        for (let s = 0; s < steps; s++) {
          const t0 = performance.now();
          trainer.step(start + s);
          ms.push(performance.now() - t0);
        }
        mktMs.push(...ms);
        console.error(`round ${r + 1}/${rounds} ${"mkt".padEnd(8)} samples/s: ${fmt(batch, ms)}`);
      };
      const runTorch = async (i: number) => {
        const w = workers[i]!;
        const ms = (await w.ref.run(steps + 1, start - 1)).slice(1);
        torchMs[i]!.push(...ms);
        console.error(`round ${r + 1}/${rounds} ${w.label.padEnd(8)} samples/s: ${fmt(batch, ms)}`);
      };
      const runParallel = async () => {
        if (group === undefined) return;
        await group.step(rowsOf(start - 1));
        const ms: number[] = [];
        for (let s = 0; s < steps; s++) {
          const t0 = performance.now();
          await group.step(rowsOf(start + s));
          ms.push(performance.now() - t0);
        }
        parallelMs.push(...ms);
        console.error(`round ${r + 1}/${rounds} ${`mkt ×${replicas}`.padEnd(8)} samples/s: ${fmt(batch, ms)}`);
      };
      const order: (() => void | Promise<void>)[] = [runMkt, runParallel, ...workers.map((_, i) => () => runTorch(i))];
      if (r % 2 === 1) order.reverse();
      for (const run of order) await run();
    }

    const after = { mkt: trainer.loss(0), torch: await Promise.all(workers.map((w) => w.ref.loss(0))) };
    const figures = (ms: number[], lossBefore: number, lossAfter: number): FrameworkFigures => ({
      samplesPerSec: Math.round(sps(batch, median(ms))),
      medianStepMs: Number(median(ms).toFixed(1)),
      loss: { before: Number(lossBefore.toFixed(4)), after: Number(lossAfter.toFixed(4)) },
    });
    const mkt = figures(mktMs, before.mkt, after.mkt);
    const torchFigures = workers.map(
      (w, i): TorchFigures => ({
        version: w.init.torch,
        python: w.ref.python,
        threads: w.init.threads,
        blas: w.init.blas,
        blasThreads: w.init.blasThreads,
        ...figures(torchMs[i]!, before.torch[i]!, after.torch[i]!),
      }),
    );
    const ratio = (t: TorchFigures) => Number((mkt.samplesPerSec / t.samplesPerSec).toFixed(2));
    const main = workers[0]?.label === "torch" ? torchFigures[0] : undefined;
    // perCore with a main worker that already runs on one thread: that worker is the per-core figure.
    const oneThread =
      torchFigures[workers.findIndex((w) => w.label === "torch-1t")] ??
      (options.perCore === true && main !== undefined && oneThreaded(main) ? main : undefined);
    const parallel =
      group === undefined
        ? undefined
        : (() => {
            const f = figures(parallelMs, NaN, NaN);
            return { ...f, replicas, ratio: main === undefined ? null : Number((f.samplesPerSec / main.samplesPerSec).toFixed(2)), speedup: Number((f.samplesPerSec / mkt.samplesPerSec).toFixed(2)) };
          })();
    return {
      backend: info.tfjsBackend,
      versions: info.versions,
      kernelOverrides: info.kernelOverrides,
      mktThreads,
      batch,
      inputWidth,
      layers,
      batches: count,
      stepsPerFramework: rounds * steps,
      mkt,
      torch: main ?? null,
      ...(torchUnavailable !== undefined ? { torchUnavailable } : {}),
      ratio: main === undefined ? null : ratio(main),
      ...(oneThread !== undefined ? { perCore: { torch: oneThread, ratio: ratio(oneThread) } } : {}),
      ...(parallel !== undefined ? { parallel } : {}),
    };
  } finally {
    trainer.dispose();
    await group?.close();
    mainReplica?.dispose();
    for (const w of workers) await w.ref.close();
    await rm(dir, { recursive: true, force: true });
    if (tf.memory().numTensors > 0) console.error(`note: ${tf.memory().numTensors} tensors still allocated`);
  }
}

function parseArgs(argv: string[]): MlpVsTorchOptions {
  const options: MlpVsTorchOptions = {};
  const positional: number[] = [];
  const int = (flag: string, v: string | undefined, min: number) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`${flag}: expected an integer ≥ ${min}, got ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--torch-threads") options.torchThreads = int(arg, argv[++i], 0);
    else if (arg === "--per-core") options.perCore = true;
    else if (arg === "--python") options.python = argv[++i] ?? "";
    else if (arg === "--replicas") options.replicas = int(arg, argv[++i], 1);
    else if (arg.startsWith("--")) throw new Error(`unknown option ${arg}`);
    else positional.push(int(positional.length === 0 ? "rounds" : "steps", arg, 1));
  }
  if (positional[0] !== undefined) options.rounds = positional[0];
  if (positional[1] !== undefined) options.steps = positional[1];
  return options;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.log(JSON.stringify(await benchMlpVsTorch(parseArgs(process.argv.slice(2))), null, 2));
}
