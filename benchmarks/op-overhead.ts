/**
 * The fixed cost of one operation, mkt's engine (tfjs on the backend auto picks, with mkt's
 * overrides) against PyTorch: a chain of N elementwise ops on 8 floats, forward alone and through
 * the gradient tape (forward, then backward), so the arithmetic is nil and what is timed is the
 * dispatch, tensor bookkeeping and tape. Small models (E = 8, Douban's few fields) run hundreds to
 * thousands of such small ops per step: this is what the twins comparison's small-model ratios
 * come down to. Alternating rounds; medians of µs per op.
 * Usage: npx tsx benchmarks/op-overhead.ts [rounds] [N]   (PyTorch through /usr/bin/python3 or $MKT_TORCH_PYTHON)
 */
import * as tf from "@tensorflow/tfjs";
import { execFileSync } from "node:child_process";
import { selectBackend } from "../src/engine/backend.ts";
import { median } from "./stats.ts";

const rounds = Number(process.argv[2] ?? 5);
const n = Number(process.argv[3] ?? 2000);

const TORCH = `
import json, sys, time, torch
n = int(sys.argv[1]); a = torch.ones(8, requires_grad=True); b = torch.ones(8)
def chain():
    x = b
    with torch.no_grad():
        for _ in range(n): x = x + b
def taped():
    x = a
    for _ in range(n): x = x * b
    x.sum().backward(); a.grad = None
chain(); taped()
t0 = time.perf_counter(); chain(); t1 = time.perf_counter(); taped(); t2 = time.perf_counter()
print(json.dumps([(t1 - t0) / n * 1e6, (t2 - t1) / n * 1e6]))
`;

await selectBackend("auto");
const a = tf.variable(tf.ones([8]));
const b = tf.ones([8]);
const chain = () => tf.tidy(() => {
  let x: tf.Tensor = b;
  for (let i = 0; i < n; i++) x = tf.add(x, b);
  return x;
}).dispose();
const taped = () => tf.tidy(() => {
  const { value, grads } = tf.variableGrads(() => {
    let x: tf.Tensor = a;
    for (let i = 0; i < n; i++) x = tf.mul(x, b);
    return tf.sum(x) as tf.Scalar;
  });
  return [value, ...Object.values(grads)];
}).forEach((t) => t.dispose());
chain();
taped();

const python = process.env["MKT_TORCH_PYTHON"] ?? "/usr/bin/python3";
const figures = { tfjs: [[], []] as number[][], torch: [[], []] as number[][] };
for (let r = 0; r < rounds; r++) {
  const runTfjs = () => {
    let t0 = performance.now();
    chain();
    figures.tfjs[0]!.push(((performance.now() - t0) / n) * 1000);
    t0 = performance.now();
    taped();
    figures.tfjs[1]!.push(((performance.now() - t0) / n) * 1000);
  };
  const runTorch = () => {
    const [fwd, grad] = JSON.parse(execFileSync(python, ["-c", TORCH, String(n)], { encoding: "utf8" })) as [number, number];
    figures.torch[0]!.push(fwd);
    figures.torch[1]!.push(grad);
  };
  for (const run of r % 2 === 0 ? [runTfjs, runTorch] : [runTorch, runTfjs]) run();
}
const fmt = (xs: number[]) => `${median(xs).toFixed(1)} µs (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`;
console.log(`chain of ${n} ops on 8 floats, ${rounds} alternating rounds, median (range) per op:`);
console.log(`- forward only: tfjs ${tf.getBackend()} ${fmt(figures.tfjs[0]!)}, PyTorch ${fmt(figures.torch[0]!)}`);
console.log(`- forward + backward through the tape: tfjs ${fmt(figures.tfjs[1]!)}, PyTorch ${fmt(figures.torch[1]!)}`);
