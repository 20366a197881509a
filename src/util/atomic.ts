import { mkdir, readdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, basename } from "node:path";
import { createHash, randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { processAlive } from "./lock.ts";

/** This host, shortened: a temporary name says which host's process writes it (pids are per host). */
const HOST_TAG = createHash("sha256").update(hostname()).digest("hex").slice(0, 8);

/** A temporary sibling path: same directory, so that rename() is atomic. */
export function tempSibling(path: string): string {
  return join(dirname(path), `.tmp-${basename(path)}-${HOST_TAG}-${process.pid}-${randomBytes(4).toString("hex")}`);
}

/**
 * Removes temporary siblings of `path` whose writer is gone (a process of this host killed while
 * writing it, e.g. by kill -9): every atomic write first clears what an earlier attempt at the same
 * file or directory left. A live writer's, and another host's, are left alone.
 */
export async function clearStaleTemps(path: string): Promise<void> {
  const prefix = `.tmp-${basename(path)}-`;
  const entries = await readdir(dirname(path)).catch(() => [] as string[]);
  for (const name of entries) {
    if (!name.startsWith(prefix)) continue;
    const writer = /^([0-9a-f]{8})-(\d+)-[0-9a-f]{8}$/.exec(name.slice(prefix.length));
    if (!writer || writer[1] !== HOST_TAG || processAlive(Number(writer[2]))) continue;
    await rm(join(dirname(path), name), { recursive: true, force: true });
  }
}

/** Writes a file via a temporary sibling and rename: readers never see a half-written file. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await clearStaleTemps(path);
  const tmp = tempSibling(path);
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
}

/** Writes each named file into `dir` with writeFileAtomic, one after another; returns their paths. */
export async function writeFilesAtomic(dir: string, contents: Record<string, string>): Promise<string[]> {
  const files: string[] = [];
  for (const [name, content] of Object.entries(contents)) {
    const file = join(dir, name);
    await writeFileAtomic(file, content);
    files.push(file);
  }
  return files;
}

export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n");
}

/**
 * Builds a directory under a temporary name and renames it into place only when `build`
 * succeeds; on failure the temporary directory is removed and `finalDir` is untouched.
 */
export async function buildDirAtomic<T>(finalDir: string, build: (tmpDir: string) => Promise<T>): Promise<T> {
  await mkdir(dirname(finalDir), { recursive: true });
  await clearStaleTemps(finalDir);
  const tmp = tempSibling(finalDir);
  await mkdir(tmp, { recursive: true });
  try {
    const result = await build(tmp);
    await rm(finalDir, { recursive: true, force: true });
    await rename(tmp, finalDir);
    return result;
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    throw error;
  }
}
