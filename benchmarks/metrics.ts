/**
 * Times AUC and GAUC on random predictions (goal: both on 10M rows in under 3 s, one thread).
 * Run directly: `npx tsx benchmarks/metrics.ts [n] [users]`.
 */
import { pathToFileURL } from "node:url";
import { mulberry32 } from "../src/util/random.ts";
import { auc } from "../src/metrics/auc.ts";
import { gauc } from "../src/metrics/gauc.ts";

export interface MetricsBenchResult {
  n: number;
  users: number;
  aucSeconds: number;
  gaucSeconds: number;
  totalSeconds: number;
  auc: number;
  gauc: number;
}


export async function benchMetrics(n = 10_000_000, users = 100_000): Promise<MetricsBenchResult> {
  const rand = mulberry32(42);
  const scores = new Float32Array(n);
  const labels = new Uint8Array(n);
  const userKey = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    // Scores quantised to 1e-4 so that there are many ties; labels depend on the score (AUC ≈ 0.7).
    const s = Math.round(rand() * 1e4) / 1e4;
    scores[i] = s;
    labels[i] = rand() < 0.05 + 0.2 * s ? 1 : 0;
    userKey[i] = Math.floor(rand() * users);
  }

  const t0 = performance.now();
  const a = auc(scores, labels);
  const t1 = performance.now();
  const g = gauc(scores, labels, userKey);
  const t2 = performance.now();
  return {
    n,
    users,
    aucSeconds: (t1 - t0) / 1000,
    gaucSeconds: (t2 - t1) / 1000,
    totalSeconds: (t2 - t0) / 1000,
    auc: a,
    gauc: g.gauc,
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const n = process.argv[2] === undefined ? undefined : Number(process.argv[2]);
  const users = process.argv[3] === undefined ? undefined : Number(process.argv[3]);
  console.log(JSON.stringify(await benchMetrics(n, users), null, 2));
}
