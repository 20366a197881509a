import { open, readFile, writeFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { tf } from "../engine/index.ts";
import type { Module } from "../layers/params.ts";
import { buildDirAtomic } from "../util/atomic.ts";
import { CorruptArtefactError, sha256Bytes } from "../util/checksums.ts";
import { UserError } from "../util/errors.ts";
import { mismatch, selectPartial, type PartialLoadOptions, type PartialLoadResult, type StoredInfo } from "../layers/shared-weights.ts";

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

/** manifest.json: enough to read weights.bin with any tool (e.g. numpy.frombuffer per entry), and to check it. */
export interface CheckpointManifest {
  format: "mkt-checkpoint";
  version: 2;
  /** Name of the saved module (informative). */
  module: string;
  byteLength: number;
  /** SHA-256 of weights.bin, checked before any value is used. */
  sha256: string;
  variables: CheckpointEntry[];
}

/** Values kept in host memory (e.g. an optimizer's moments gathered from replica threads). */
export interface HostArray {
  shape: readonly number[];
  values: Float32Array | Int32Array;
}

/** What a checkpoint can store: tensors (read one at a time while writing) or host arrays. */
export type Storable = tf.Tensor | HostArray;

function storedDtype(name: string, dtype: tf.DataType): StoredDtype {
  if (dtype === "float32" || dtype === "int32") return dtype;
  throw new Error(`checkpoint: variable '${name}' has dtype ${dtype}; only float32 and int32 are stored`);
}

async function storedValues(name: string, value: Storable): Promise<{ shape: number[]; dtype: StoredDtype; values: Float32Array | Int32Array }> {
  if (value instanceof tf.Tensor) return { shape: [...value.shape], dtype: storedDtype(name, value.dtype), values: (await value.data()) as Float32Array | Int32Array };
  return { shape: [...value.shape], dtype: value.values instanceof Int32Array ? "int32" : "float32", values: value.values };
}

/**
 * Saves named values to `dir` (manifest.json + weights.bin). The directory is built under a
 * temporary name and renamed into place, so `dir` is either the previous checkpoint or the complete
 * new one, never a partial write.
 */
export async function saveValues(dir: string, label: string, values: Iterable<[string, Storable]>): Promise<CheckpointManifest> {
  return buildDirAtomic(dir, async (tmp) => {
    const variables: CheckpointEntry[] = [];
    const hash = createHash("sha256");
    let offset = 0;
    // Written one value at a time, so a large model is never held twice in memory.
    const weights = await open(join(tmp, WEIGHTS_FILE), "w");
    try {
      for (const [name, value] of values) {
        const { shape, dtype, values: data } = await storedValues(name, value);
        const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
        hash.update(bytes);
        await weights.write(bytes, 0, bytes.length, offset);
        variables.push({ name, shape, dtype, offset, byteLength: bytes.length });
        offset += bytes.length;
      }
    } finally {
      await weights.close();
    }
    const manifest: CheckpointManifest = { format: "mkt-checkpoint", version: 2, module: label, byteLength: offset, sha256: hash.digest("hex"), variables };
    await writeFile(join(tmp, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + "\n");
    return manifest;
  });
}

/** Saves every variable of `module` to `dir` (see saveValues). */
export async function saveCheckpoint(dir: string, module: Module): Promise<CheckpointManifest> {
  return saveValues(dir, module.name, module.namedVariables());
}

async function readManifest(dir: string): Promise<CheckpointManifest> {
  const file = join(dir, MANIFEST_FILE);
  let manifest: CheckpointManifest;
  try {
    manifest = JSON.parse(await readFile(file, "utf8")) as CheckpointManifest;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new UserError(`${dir}: not a checkpoint (no ${MANIFEST_FILE})`);
    throw new CorruptArtefactError(file, "corrupted (not valid JSON)");
  }
  if (manifest?.format !== "mkt-checkpoint" || manifest.version !== 2) {
    throw new UserError(`${dir}: unsupported checkpoint format ${String(manifest?.format)} v${String(manifest?.version)} (this mkt reads mkt-checkpoint v2)`);
  }
  const valid =
    typeof manifest.sha256 === "string" &&
    Number.isInteger(manifest.byteLength) &&
    Array.isArray(manifest.variables) &&
    manifest.variables.every(
      (e) =>
        typeof e?.name === "string" &&
        Array.isArray(e.shape) &&
        e.shape.every((d) => Number.isInteger(d) && d >= 0) &&
        (e.dtype === "float32" || e.dtype === "int32") &&
        Number.isInteger(e.offset) &&
        e.offset >= 0 &&
        e.byteLength === 4 * e.shape.reduce((n, d) => n * d, 1) &&
        e.offset + e.byteLength <= manifest.byteLength,
    );
  if (!valid) throw new CorruptArtefactError(file, "corrupted (not a consistent checkpoint manifest)");
  return manifest;
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

type ReadValues = ReadonlyMap<string, Float32Array | Int32Array>;

/**
 * Reads weights.bin whole, checks its size and SHA-256 against the manifest (CorruptArtefactError
 * naming it otherwise), and returns the values of `entries`, each in an array of its own.
 */
async function readValues(dir: string, manifest: CheckpointManifest, entries: Iterable<CheckpointEntry>): Promise<ReadValues> {
  const file = join(dir, WEIGHTS_FILE);
  const bytes = await readFile(file).catch((error: NodeJS.ErrnoException) => {
    throw new CorruptArtefactError(file, error.code === "ENOENT" ? "missing" : `cannot be read (${error.message})`);
  });
  if (bytes.length !== manifest.byteLength) throw new CorruptArtefactError(file, `${bytes.length} bytes where its manifest says ${manifest.byteLength}`);
  if (sha256Bytes(bytes) !== manifest.sha256) throw new CorruptArtefactError(file, `corrupted (its SHA-256 does not match ${MANIFEST_FILE})`);
  const values = new Map<string, Float32Array | Int32Array>();
  for (const entry of entries) {
    // A copy: the Buffer's own offset need not be 4-byte aligned.
    const own = bytes.buffer.slice(bytes.byteOffset + entry.offset, bytes.byteOffset + entry.offset + entry.byteLength);
    values.set(entry.name, entry.dtype === "int32" ? new Int32Array(own) : new Float32Array(own));
  }
  return values;
}

/** Every stored value of a checkpoint directory by name, checked (for values that are not a module's, e.g. optimizer moments). */
export async function readStoredValues(dir: string): Promise<Map<string, HostArray>> {
  const manifest = await readManifest(dir);
  const values = await readValues(dir, manifest, manifest.variables);
  return new Map(manifest.variables.map((e) => [e.name, { shape: e.shape, values: values.get(e.name)! }]));
}

/** A checkpoint's values for `module`, checked against it and read, not yet assigned (see assignCheckpoint). */
export interface ReadCheckpoint {
  entries: ReadonlyMap<string, CheckpointEntry>;
  values: ReadValues;
}

/** Reads a checkpoint of `module`'s variables: everything is checked and read before anything is assigned. */
export async function readCheckpoint(dir: string, module: Module): Promise<ReadCheckpoint> {
  const manifest = await readManifest(dir);
  const entries = new Map(manifest.variables.map((e) => [e.name, e]));
  checkMatches(module, entries, `checkpoint ${dir}`);
  return { entries, values: await readValues(dir, manifest, entries.values()) };
}

/** Sets `module`'s variables to a checkpoint read by readCheckpoint. */
export function assignCheckpoint(module: Module, read: ReadCheckpoint): void {
  assignRead(module, [...read.entries.keys()].map((name) => [name, name]), read.entries, read.values);
}

/** The values of a checkpoint read by readCheckpoint as a snapshot (dispose with disposeSnapshot). */
export function snapshotOf(read: ReadCheckpoint): WeightSnapshot {
  return new Map([...read.entries].map(([name, entry]) => [name, tf.tensor(read.values.get(name)!, entry.shape, entry.dtype)]));
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
 * read (and weights.bin checked against its SHA-256) before any is assigned, so a mismatching,
 * truncated or corrupted checkpoint leaves the model untouched.
 */
export async function loadCheckpoint(dir: string, module: Module): Promise<void> {
  assignCheckpoint(module, await readCheckpoint(dir, module));
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
  const values = await readValues(dir, manifest, pairs.map(([, storedName]) => entries.get(storedName)!));
  assignRead(module, pairs, entries, values);
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
