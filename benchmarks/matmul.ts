/**
 * Training throughput of an MLP on the wasm backend with and without the matmul kernel overrides
 * (src/engine/kernels): hidden [1024, 512, 64] → 1 logit, 1024-wide random input, batch 1024, Adam.
 * The two variants alternate within one run (order flipped every round) so drift hits both alike.
 * Run directly: `npx tsx benchmarks/matmul.ts [rounds] [stepsPerRound]`.
 */
import * as tf from "@tensorflow/tfjs";
import { pathToFileURL } from "node:url";
import { selectBackend } from "../src/engine/backend.ts";
import { applyKernelOverrides, removeKernelOverrides } from "../src/engine/kernels/registry.ts";

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

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export async function benchMatmul(rounds = 3, stepsPerRound = 4): Promise<MatmulBenchResult> {
  const info = await selectBackend("wasm");
  const batch = 1024;
  const inputWidth = 1024;
  const layers = [1024, 512, 64, 1];
  const x = tf.randomUniform([batch, inputWidth], -1, 1, "float32", 1);
  const y = tf.cast(tf.greater(tf.randomUniform([batch, 1], 0, 1, "float32", 2), 0.5), "float32");
  const params: { w: tf.Variable; b: tf.Variable }[] = [];
  let fanIn = inputWidth;
  layers.forEach((units, i) => {
    const w = tf.variable(tf.randomNormal([fanIn, units], 0, Math.sqrt(2 / fanIn), "float32", 10 + i));
    params.push({ w, b: tf.variable(tf.zeros([units])) });
    fanIn = units;
  });
  const optimizer = tf.train.adam(1e-3);
  const loss = () => {
    let h: tf.Tensor = x;
    params.forEach(({ w, b }, i) => {
      h = tf.add(tf.matMul(h as tf.Tensor2D, w as tf.Tensor2D), b);
      if (i < params.length - 1) h = tf.relu(h);
    });
    return tf.losses.sigmoidCrossEntropy(y, h) as tf.Scalar;
  };
  // wasm runs synchronously: when minimize returns, the step is done.
  const step = () => tf.tidy(() => void optimizer.minimize(loss));

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
  tf.dispose([x, y, ...params.flatMap((p) => [p.w, p.b])]);
  optimizer.dispose();

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
