/**
 * Training throughput of an MLP on the wasm backend with and without the matmul kernel overrides
 * (src/engine/kernels): hidden [1024, 512, 64] → 1 logit, 1024-wide random input, batch 1024, Adam
 * (the training step is benchmarks/dense-mlp.ts, shared with benchmarks/mlp-vs-torch.ts).
 * The two variants alternate within one run (order flipped every round) so drift hits both alike.
 * Run directly: `npx tsx benchmarks/matmul.ts [rounds] [stepsPerRound]`.
 */
import { pathToFileURL } from "node:url";
import { selectBackend } from "../src/engine/backend.ts";
import { applyKernelOverrides, removeKernelOverrides } from "../src/engine/kernels/registry.ts";
import { createDenseMlpTrainer, makeBatches } from "./dense-mlp.ts";
import { median } from "./stats.ts";

export interface MatmulBenchResult {
  backend: string;
  versions: Record<string, string>;
  batch: number;
  inputWidth: number;
  layers: number[];
  stepsPerVariant: number;
  samplesPerSec: { override: number; original: number };
  /** override / original. */
  ratio: number;
}

export async function benchMatmul(rounds = 3, stepsPerRound = 4): Promise<MatmulBenchResult> {
  const info = await selectBackend("wasm");
  const batch = 1024;
  const inputWidth = 1024;
  const layers = [1024, 512, 64, 1];
  // One batch is enough here: both variants train on the same data, and data does not change the speed.
  const trainer = createDenseMlpTrainer(
    { batch, inputWidth, layers, seed: 10 },
    makeBatches({ batch, inputWidth, count: 1, seed: 1 }),
  );
  const step = () => trainer.step(0);

  const times: Record<"override" | "original", number[]> = { override: [], original: [] };
  const use = (variant: "override" | "original") =>
    variant === "override" ? applyKernelOverrides("wasm") : removeKernelOverrides();
  for (const variant of ["override", "original"] as const) {
    use(variant);
    for (let i = 0; i < 2; i++) step(); // warm-up: wasm memory growth, XNNPACK operator creation
  }
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? (["override", "original"] as const) : (["original", "override"] as const);
    for (const variant of order) {
      use(variant);
      step(); // one untimed step after each switch
      for (let s = 0; s < stepsPerRound; s++) {
        const t0 = performance.now();
        step();
        times[variant].push(performance.now() - t0);
      }
      const last = times[variant].slice(-stepsPerRound).map((ms) => ((batch / ms) * 1000).toFixed(0));
      console.error(`round ${r + 1}/${rounds} ${variant.padEnd(8)} samples/s: ${last.join(" ")}`);
    }
  }
  applyKernelOverrides("wasm");
  trainer.dispose();

  const override = (batch / median(times.override)) * 1000;
  const original = (batch / median(times.original)) * 1000;
  return {
    backend: info.tfjsBackend,
    versions: info.versions,
    batch,
    inputWidth,
    layers,
    stepsPerVariant: rounds * stepsPerRound,
    samplesPerSec: { override: Math.round(override), original: Math.round(original) },
    ratio: Number((override / original).toFixed(2)),
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rounds = process.argv[2] === undefined ? undefined : Number(process.argv[2]);
  const steps = process.argv[3] === undefined ? undefined : Number(process.argv[3]);
  console.log(JSON.stringify(await benchMatmul(rounds, steps), null, 2));
}
