import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join, basename } from "node:path";
import { randomBytes } from "node:crypto";

/** A temporary sibling path: same directory, so that rename() is atomic. */
export function tempSibling(path: string): string {
  return join(dirname(path), `.tmp-${basename(path)}-${process.pid}-${randomBytes(4).toString("hex")}`);
}

/** Writes a file via a temporary sibling and rename: readers never see a half-written file. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = tempSibling(path);
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
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
