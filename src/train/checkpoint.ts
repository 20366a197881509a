import { open, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import type { Module } from "../layers/params.ts";
import { buildDirAtomic } from "../util/atomic.ts";
import { UserError } from "../util/errors.ts";

export const MANIFEST_FILE = "manifest.json";
export const WEIGHTS_FILE = "weights.bin";

/** The dtypes a checkpoint stores: both 4 bytes wide, little-endian in weights.bin. */
type StoredDtype = "float32" | "int32";

export interface CheckpointEntry {
  /** Logical parameter name (Module.namedVariables() key). */
  name: string;
  shape: number[];
  dtype: StoredDtype;
  /** Byte range of the values in weights.bin. */
  offset: number;
  byteLength: number;
}

/** manifest.json: enough to read weights.bin with any tool (e.g. numpy.frombuffer per entry). */
export interface CheckpointManifest {
  format: "mkt-checkpoint";
  version: 1;
  /** Name of the saved module (informative). */
  module: string;
  byteLength: number;
  variables: CheckpointEntry[];
}

function storedDtype(name: string, dtype: tf.DataType): StoredDtype {
  if (dtype === "float32" || dtype === "int32") return dtype;
  throw new Error(`checkpoint: variable '${name}' has dtype ${dtype}; only float32 and int32 are stored`);
}

/**
 * Saves every variable of `module` to `dir` (manifest.json + weights.bin). The directory is built
 * under a temporary name and renamed into place, so `dir` is either the previous checkpoint or the
 * complete new one, never a partial write.
 */
export async function saveCheckpoint(dir: string, module: Module): Promise<CheckpointManifest> {
  return buildDirAtomic(dir, async (tmp) => {
    const variables: CheckpointEntry[] = [];
    let offset = 0;
    // Written one variable at a time, so a large model is never held twice in memory.
    const weights = await open(join(tmp, WEIGHTS_FILE), "w");
    try {
      for (const [name, variable] of module.namedVariables()) {
        const dtype = storedDtype(name, variable.dtype);
        const values = (await variable.data()) as Float32Array | Int32Array;
        const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
        await weights.write(bytes, 0, bytes.length, offset);
        variables.push({ name, shape: [...variable.shape], dtype, offset, byteLength: bytes.length });
        offset += bytes.length;
      }
    } finally {
      await weights.close();
    }
    const manifest: CheckpointManifest = { format: "mkt-checkpoint", version: 1, module: module.name, byteLength: offset, variables };
    await writeFile(join(tmp, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + "\n");
    return manifest;
  });
}

async function readManifest(dir: string): Promise<CheckpointManifest> {
  let manifest: CheckpointManifest;
  try {
    manifest = JSON.parse(await readFile(join(dir, MANIFEST_FILE), "utf8")) as CheckpointManifest;
  } catch {
    throw new UserError(`${dir}: not a checkpoint (no readable ${MANIFEST_FILE})`);
  }
  if (manifest.format !== "mkt-checkpoint" || manifest.version !== 1) {
    throw new UserError(`${dir}: unsupported checkpoint format ${String(manifest.format)} v${String(manifest.version)}`);
  }
  return manifest;
}

interface StoredInfo {
  shape: readonly number[];
  dtype: string;
}

/** Why a stored value cannot fill `variable`, or undefined if it can. */
function mismatch(name: string, entry: StoredInfo, variable: tf.Variable): string | undefined {
  if (entry.dtype === variable.dtype && sameShape(entry.shape, variable.shape)) return undefined;
  return `'${name}' is ${entry.dtype}[${entry.shape.join(", ")}] but the model has ${variable.dtype}[${variable.shape.join(", ")}]`;
}

/**
 * Checks that `stored` holds exactly the module's variables with the same shapes and dtypes;
 * throws one error listing every difference (so a wrong checkpoint is diagnosed in one go).
 */
function checkMatches(module: Module, stored: ReadonlyMap<string, StoredInfo>, what: string): void {
  const problems: string[] = [];
  const variables = module.namedVariables();
  for (const [name, variable] of variables) {
    const entry = stored.get(name);
    const problem = entry ? mismatch(name, entry, variable) : `'${name}' is missing`;
    if (problem) problems.push(problem);
  }
  for (const name of stored.keys()) if (!variables.has(name)) problems.push(`'${name}' is not a variable of the model`);
  if (problems.length) throw new UserError(`${what} does not match model '${module.name}': ${problems.join("; ")}`);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

type ReadValues = ReadonlyMap<string, Float32Array | Int32Array>;

/** Reads the values of `entries` from weights.bin, all of them before returning (nothing is assigned here). */
async function readValues(dir: string, entries: Iterable<CheckpointEntry>): Promise<ReadValues> {
  const values = new Map<string, Float32Array | Int32Array>();
  const weights = await open(join(dir, WEIGHTS_FILE), "r");
  try {
    for (const entry of entries) {
      if (entry.byteLength !== 4 * entry.shape.reduce((n, d) => n * d, 1)) {
        throw new UserError(`${dir}: variable '${entry.name}' has ${entry.byteLength} bytes for shape [${entry.shape.join(", ")}]`);
      }
      const bytes = new Uint8Array(entry.byteLength);
      const { bytesRead } = await weights.read(bytes, 0, entry.byteLength, entry.offset);
      if (bytesRead !== entry.byteLength) throw new UserError(`${dir}: ${WEIGHTS_FILE} is truncated (variable '${entry.name}')`);
      values.set(entry.name, entry.dtype === "int32" ? new Int32Array(bytes.buffer) : new Float32Array(bytes.buffer));
    }
  } finally {
    await weights.close();
  }
  return values;
}

/** Assigns values read by readValues; `pairs` are (module variable name, stored name). */
function assignRead(module: Module, pairs: ReadonlyArray<[string, string]>, entries: ReadonlyMap<string, CheckpointEntry>, values: ReadValues): void {
  const variables = module.namedVariables();
  for (const [name, storedName] of pairs) {
    const entry = entries.get(storedName)!;
    tf.tidy(() => variables.get(name)!.assign(tf.tensor(values.get(storedName)!, entry.shape, entry.dtype)));
  }
}

/**
 * Restores a checkpoint into an existing model's variables, by name. Every variable is checked and
 * read before any is assigned, so a mismatching or truncated checkpoint leaves the model untouched.
 */
export async function loadCheckpoint(dir: string, module: Module): Promise<void> {
  const manifest = await readManifest(dir);
  const entries = new Map(manifest.variables.map((e) => [e.name, e]));
  checkMatches(module, entries, `checkpoint ${dir}`);
  const values = await readValues(dir, entries.values());
  assignRead(module, [...entries.keys()].map((name) => [name, name]), entries, values);
}

/** Which stored value, if any, fills each variable of a module in a partial load. */
export interface PartialLoadOptions {
  /**
   * The stored name for a module variable's name, or undefined to leave that variable as it is
   * (default: the same name). A prefix filter, e.g. `(n) => (n.startsWith("m/dnn/") ? n : undefined)`,
   * or a renaming between modules named differently.
   */
  storedName?: (name: string) => string | undefined;
}

export interface PartialLoadResult {
  /** Module variables that received stored values, in the module's order. */
  loaded: string[];
  /** Module variables left as they were: excluded by `storedName` or absent from the store. */
  kept: string[];
}

/**
 * Pairs each module variable with its stored value's name. A variable whose stored counterpart has
 * another shape or dtype is an error (one message listing all), not a silent skip: the two models
 * were meant to share it.
 */
function selectPartial(
  module: Module,
  stored: ReadonlyMap<string, StoredInfo>,
  options: PartialLoadOptions,
  what: string,
): { pairs: Array<[string, string]>; result: PartialLoadResult } {
  const pairs: Array<[string, string]> = [];
  const result: PartialLoadResult = { loaded: [], kept: [] };
  const problems: string[] = [];
  for (const [name, variable] of module.namedVariables()) {
    const storedName = options.storedName ? options.storedName(name) : name;
    const entry = storedName === undefined ? undefined : stored.get(storedName);
    if (storedName === undefined || entry === undefined) {
      result.kept.push(name);
      continue;
    }
    const problem = mismatch(name, entry, variable);
    if (problem) problems.push(storedName === name ? problem : `${problem} (stored as '${storedName}')`);
    pairs.push([name, storedName]);
    result.loaded.push(name);
  }
  if (problems.length) throw new UserError(`${what} does not match model '${module.name}': ${problems.join("; ")}`);
  return { pairs, result };
}

/**
 * Restores only the module variables that have a stored counterpart (see PartialLoadOptions), e.g. a
 * fine-tuned model starting from a pre-trained one; the others keep their values. Like
 * loadCheckpoint, everything is checked and read before anything is assigned.
 */
export async function loadCheckpointPartial(dir: string, module: Module, options: PartialLoadOptions = {}): Promise<PartialLoadResult> {
  const manifest = await readManifest(dir);
  const entries = new Map(manifest.variables.map((e) => [e.name, e]));
  const { pairs, result } = selectPartial(module, entries, options, `checkpoint ${dir}`);
  const values = await readValues(dir, pairs.map(([, storedName]) => entries.get(storedName)!));
  assignRead(module, pairs, entries, values);
  return result;
}

/**
 * The in-memory form of loadCheckpointPartial: `stored` is another module's namedVariables() or a
 * snapshot. Values are shared, not copied (as in restore), and stay valid when `stored` is disposed.
 */
export function restorePartial(module: Module, stored: ReadonlyMap<string, tf.Tensor>, options: PartialLoadOptions = {}): PartialLoadResult {
  const { pairs, result } = selectPartial(module, stored, options, "stored weights");
  const variables = module.namedVariables();
  for (const [name, storedName] of pairs) variables.get(name)!.assign(stored.get(storedName)!);
  return result;
}

/** In-memory copy of a module's weights by name (e.g. the best epoch's). Dispose with disposeSnapshot. */
export type WeightSnapshot = ReadonlyMap<string, tf.Tensor>;

/**
 * Takes a snapshot without copying: tf.clone shares the data, and optimizers update variables by
 * assigning new tensors, so the snapshot keeps the old values alive only once they change.
 * Call outside tf.tidy (or tf.keep the tensors).
 */
export function snapshot(module: Module): WeightSnapshot {
  return new Map([...module.namedVariables()].map(([name, variable]) => [name, tf.clone(variable)]));
}

/**
 * Sets the module's variables to a snapshot's values (their current values are released). The
 * snapshot stays valid and still needs disposeSnapshot.
 */
export function restore(module: Module, saved: WeightSnapshot): void {
  checkMatches(module, saved, "snapshot");
  for (const [name, variable] of module.namedVariables()) variable.assign(saved.get(name)!);
}

export function disposeSnapshot(saved: WeightSnapshot): void {
  tf.dispose([...saved.values()]);
}
