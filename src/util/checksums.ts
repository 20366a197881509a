/**
 * Checksums of the artefacts mkt writes (prepared datasets, stages, results): `checksums.json` in
 * a directory lists the SHA-256 and size of each of its files, and is written last, so it is also
 * the directory's "complete" marker. Whoever loads a file checks it against the list first: a
 * corrupted file is named, never used.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeJsonAtomic } from "./atomic.ts";
import { UserError } from "./errors.ts";
import { exists } from "./files.ts";

export const CHECKSUMS_FILE = "checksums.json";

export interface FileChecksum {
  sha256: string;
  bytes: number;
}

/** checksums.json: file path relative to the directory → its checksum. */
export interface Checksums {
  format: "mkt-checksums";
  version: 1;
  files: Record<string, FileChecksum>;
}

/**
 * A file whose bytes are not the ones recorded for it (or that is missing or unreadable). A
 * UserError (exit 2, one line naming the file) wherever nobody catches it to recompute the file.
 */
export class CorruptArtefactError extends UserError {
  constructor(
    readonly file: string,
    readonly problem: string,
    hint?: string,
  ) {
    super(`${file}: ${problem}${hint ? `: ${hint}` : ""}`);
    this.name = "CorruptArtefactError";
  }

  /** The same error with what to do about it appended to the message. */
  withHint(hint: string): CorruptArtefactError {
    return new CorruptArtefactError(this.file, this.problem, hint);
  }
}

export async function sha256File(path: string): Promise<FileChecksum> {
  const hash = createHash("sha256");
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest("hex"), bytes };
}

export function sha256Bytes(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Writes `dir`/checksums.json over `files` (paths relative to `dir`), atomically: call it last. */
export async function sealDir(dir: string, files: readonly string[]): Promise<void> {
  const checksums: Checksums = { format: "mkt-checksums", version: 1, files: {} };
  for (const file of [...files].sort()) checksums.files[file] = await sha256File(join(dir, file));
  await writeJsonAtomic(join(dir, CHECKSUMS_FILE), checksums);
}

/** Removes the seal: the directory counts as incomplete until sealDir runs again. */
export async function unsealDir(dir: string): Promise<void> {
  await rm(join(dir, CHECKSUMS_FILE), { force: true });
}

/** The directory's checksums, or undefined when it has none (not complete). */
export async function readChecksums(dir: string): Promise<Checksums | undefined> {
  const file = join(dir, CHECKSUMS_FILE);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new CorruptArtefactError(file, `cannot be read (${(error as Error).message})`);
  }
  let parsed: Checksums;
  try {
    parsed = JSON.parse(text) as Checksums;
  } catch {
    throw new CorruptArtefactError(file, "corrupted (not valid JSON)");
  }
  const valid =
    parsed?.format === "mkt-checksums" &&
    parsed.version === 1 &&
    typeof parsed.files === "object" &&
    parsed.files !== null &&
    Object.values(parsed.files).every((c) => typeof c?.sha256 === "string" && typeof c.bytes === "number");
  if (!valid) throw new CorruptArtefactError(file, "corrupted (not a checksum list)");
  return parsed;
}

/**
 * Checks `files` (default: every file listed) of a sealed directory against its checksums.json.
 * Returns false when the directory is not sealed; throws CorruptArtefactError naming the first file
 * that is missing, unlisted or has other bytes.
 */
export async function verifySealed(dir: string, files?: readonly string[]): Promise<boolean> {
  const checksums = await readChecksums(dir);
  if (!checksums) return false;
  for (const file of files ?? Object.keys(checksums.files)) {
    const path = join(dir, file);
    const expected = checksums.files[file];
    if (!expected) throw new CorruptArtefactError(path, `not listed in ${join(dir, CHECKSUMS_FILE)}`);
    const actual = await sha256File(path).catch((error: NodeJS.ErrnoException) => {
      throw new CorruptArtefactError(path, error.code === "ENOENT" ? "missing" : `cannot be read (${error.message})`);
    });
    if (actual.bytes !== expected.bytes || actual.sha256 !== expected.sha256) {
      throw new CorruptArtefactError(path, `corrupted (its SHA-256 does not match ${CHECKSUMS_FILE})`);
    }
  }
  return true;
}

/** What a sealed directory holds: `read`'s value once its checksums hold, nothing usable yet, or a corrupted file. */
export type Sealed<T> = { value: T } | { unfinished: true } | { corrupt: CorruptArtefactError };

/**
 * `read` of a directory whose `file` exists and whose checksums hold. Without either it is
 * unfinished (e.g. killed before it was sealed); a corrupted file (found by the checksums or by
 * `read`) is reported, not thrown.
 */
export async function readSealed<T>(dir: string, file: string, read: () => Promise<T>): Promise<Sealed<T>> {
  try {
    if (!(await exists(join(dir, file))) || !(await verifySealed(dir))) return { unfinished: true };
    return { value: await read() };
  } catch (error) {
    if (error instanceof CorruptArtefactError) return { corrupt: error };
    throw error;
  }
}

/** Every file under `dir` (relative paths) but checksums.json, skipping hidden entries (locks, temporary files). */
export async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .filter((path) => path !== CHECKSUMS_FILE && !path.split("/").some((part) => part.startsWith(".")))
    .sort();
}
