/**
 * DIN's Dice in training mode, forward and backward, on mkt's kernels (MktDice, MktDiceGrad) against
 * the same layer on tfjs ops (the kernels removed), alternating rounds in one process; medians of
 * ms per forward + backward of Σ Dice(x)·r with a mask keeping ~40% of the rows.
 * Usage: npx tsx benchmarks/dice.ts [rows] [channels] [rounds]   (default 20480 36 10: DIN's
 * activation units at batch 1,024 and 20 sequence positions; its MLP's first layer is 1024 256)
 */
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../src/engine/backend.ts";
import { applyKernelOverrides, removeKernelOverrides } from "../src/engine/kernels/registry.ts";
import { Dice } from "../src/layers/dice.ts";
import { ParamInit } from "../src/layers/params.ts";
import { median } from "./stats.ts";

const [rows = 20480, channels = 36, rounds = 10] = process.argv.slice(2).map(Number);
const backend = await selectBackend("wasm");
const x = tf.randomNormal([rows, channels], 0.3, 1.5, "float32", 1);
const mask = tf.cast(tf.greater(tf.randomUniform([rows], 0, 1, "float32", 2), 0.6), "float32");
const r = tf.randomNormal([rows, channels], 0, 1, "float32", 3);
const dice = new Dice("dice", new ParamInit(1), { size: channels });
const step = () => tf.tidy(() => void tf.grads((a: tf.Tensor) => tf.sum(tf.mul(dice.apply(a, { mode: "train", mask }), r)))([x])[0]!.dataSync());
const variants = { kernels: () => void applyKernelOverrides(backend.tfjsBackend), "tfjs ops": () => void removeKernelOverrides((name) => name.includes("Dice")) };
const times: Record<string, number[]> = { kernels: [], "tfjs ops": [] };
for (let round = 0; round < rounds; round++) {
  const order = round % 2 === 0 ? Object.entries(variants) : Object.entries(variants).reverse();
  for (const [name, use] of order) {
    use();
    step(); // untimed after the switch
    const t0 = performance.now();
    for (let i = 0; i < 5; i++) step();
    times[name]!.push((performance.now() - t0) / 5);
  }
}
const [withKernels, withOps] = [median(times.kernels!), median(times["tfjs ops"]!)];
console.log(`Dice [${rows}, ${channels}] forward + backward, median of ${rounds} rounds: mkt's kernels ${withKernels.toFixed(2)} ms, tfjs ops ${withOps.toFixed(2)} ms (${(withOps / withKernels).toFixed(2)}×)`);
