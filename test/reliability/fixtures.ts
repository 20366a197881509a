import { lstat, mkdir, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { openDuck, sqlString } from "../../src/data/duck.ts";
import { main } from "../../src/cli/main.ts";

/**
 * Valid inputs for the reliability suite, generated here: a small two-entity CSV log with a time
 * split (6 slices of 100 s; every slice has clicks and non-clicks of both entities), its dataset
 * spec and an experiment spec. Each malformed case changes exactly one thing in a copy of them.
 */

/** Text that appears only in the data rows: a message that quotes a row would contain it. */
export const CANARY = "canary7731";

export const USERS = 8;
export const SLICES = 6;

export function sourceRows(): string[] {
  const rows = ["user_id,item_id,ts,click,price,category"];
  for (let u = 1; u <= USERS; u++) {
    for (let slice = 0; slice < SLICES; slice++) rows.push(`u${u},s${(u + slice) % 5},${slice * 100 + u * 7},${(u + slice) % 2},${10 + u + slice},c${u % 3}`);
  }
  return rows;
}

export function targetRows(): string[] {
  const rows = ["user_id,item_id,ts,click,style,category"];
  for (let u = 1; u <= USERS; u++) {
    for (let slice = 0; slice < SLICES; slice++) rows.push(`u${u},t${(u * slice) % 4},${slice * 100 + u * 7 + 3},${(u + slice + 1) % 2},${CANARY}${u % 2},c${slice % 3}`);
  }
  return rows;
}

export const DATASET_SPEC = `name: rel
raw_dir: raw
tables:
  src: { path: source.csv }
  tgt: { path: target.csv }
entities:
  source: { name: product, table: src, time_column: ts, label: { column: click }, specific: [{ name: price, type: numeric, buckets: 4 }] }
  target: { name: content, table: tgt, time_column: ts, label: { column: click }, specific: [{ name: style }] }
shared: [{ name: category }]
sequence_maxlen: 3
split: { by: time, slice_seconds: 100 }
`;

export const EXPERIMENT_SPEC = `name: rel
dataset: data.yaml
models: [mlp]
ablations: []
seeds: [1]
reference_model: mlp
training: { batch_size: 16, max_epochs: 1, patience: 1, shuffle_buffer: 64, eval_batch_size: 64 }
sizes: { embedding_dim: 2, mlp: [4], tower: [4], attention: [4], hfa_dim: 4, cke_levels: [4] }
`;

/** A dataset spec whose raw tables the built-in generator writes (small: generated in well under a second). */
export const GENERATOR_SPEC = `name: gen
generator: { kind: synthetic, seed: 3, users: 40, days: 4, source_items: 30, target_items: 20, impressions: 2000, target_ctr: 0.2, source_ctr: 0.2, categories: 4, creators: 6 }
tables:
  users: { path: users.parquet }
  source_items: { path: source_items.parquet }
  target_items: { path: target_items.parquet }
  source_impressions: { path: source_impressions.parquet }
  target_impressions: { path: target_impressions.parquet }
users:
  table: users
  fields: [{ name: gender }]
entities:
  source: { name: product, table: source_impressions, time_column: ts, label: { column: click }, items: { table: source_items } }
  target: { name: content, table: target_impressions, time_column: ts, label: { column: click }, items: { table: target_items } }
shared:
  - { name: category }
split: { by: time, slice_seconds: 86400 }
`;

/** The input files of one case, by path under its `in/` directory. */
export type Files = Record<string, string | Uint8Array>;

export function baseFiles(): Files {
  return {
    "data.yaml": DATASET_SPEC,
    "exp.yaml": EXPERIMENT_SPEC,
    "gen.yaml": GENERATOR_SPEC,
    "raw/source.csv": sourceRows().join("\n") + "\n",
    "raw/target.csv": targetRows().join("\n") + "\n",
  };
}

/** A case's directory: `in/` holds its inputs, `out/` (empty) is where --out points below. */
export interface CaseDirs {
  root: string;
  input: string;
  out: string;
}

export async function caseDirs(files: Files): Promise<CaseDirs> {
  const root = await mkdtemp(join(tmpdir(), "mkt-reliability-"));
  const input = join(root, "in");
  const out = join(root, "out");
  await mkdir(out);
  await writeFiles(input, files);
  return { root, input, out };
}

export async function writeFiles(dir: string, files: Files): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), content);
  }
}

/** Every path under `dir` with its kind and size: what a command may not change. */
export async function snapshot(dir: string): Promise<string[]> {
  const names = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
  const entries: string[] = [];
  for (const name of names.sort()) {
    const info = await lstat(join(dir, name));
    entries.push(`${name} ${info.isDirectory() ? "dir" : info.isSymbolicLink() ? "link" : info.size}`);
  }
  return entries;
}

/** The target table as Parquet (written by DuckDB from the CSV rows), for the Parquet cases. */
export async function targetParquet(): Promise<Uint8Array> {
  const dir = await mkdtemp(join(tmpdir(), "mkt-reliability-parquet-"));
  const csv = join(dir, "target.csv");
  const parquet = join(dir, "target.parquet");
  await writeFile(csv, targetRows().join("\n") + "\n");
  const duck = await openDuck();
  try {
    await duck.con.run(`COPY (SELECT * FROM read_csv(${sqlString(csv)}, all_varchar = true)) TO ${sqlString(parquet)} (FORMAT parquet)`);
  } finally {
    duck.close();
  }
  return readFile(parquet);
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI in this process (`main(argv)`), capturing what it writes to stdout and stderr: the
 * same code path as `bin/mkt` without a process start per case. Logging is off (JSON, silent).
 */
export async function runCli(argv: string[]): Promise<CliResult> {
  const captured = { stdout: "", stderr: "" };
  const original = { stdout: process.stdout.write, stderr: process.stderr.write };
  const capture = (stream: "stdout" | "stderr") =>
    ((chunk: string | Uint8Array) => {
      captured[stream] += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = capture("stdout");
  process.stderr.write = capture("stderr");
  try {
    const code = await main(["--json", "--log-level", "silent", ...argv]);
    return { code, ...captured };
  } finally {
    process.stdout.write = original.stdout;
    process.stderr.write = original.stderr;
  }
}
