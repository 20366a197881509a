import { constants } from "node:fs";
import { access, lstat, open, rmdir, stat } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { UserError } from "./errors.ts";

const FS_PROBLEMS = new Map([
  ["ENOENT", "does not exist"],
  ["EACCES", "permission denied"],
  ["EPERM", "permission denied"],
  ["EISDIR", "is a directory, not a file"],
  ["ENOTDIR", "a part of the path is not a directory"],
  ["ENAMETOOLONG", "the path is too long"],
  ["ELOOP", "too many levels of symbolic links"],
  ["ENOSPC", "no space left on the device"],
  ["EROFS", "the file system is read-only"],
  ["EEXIST", "already exists"],
]);

/** What a file-system error code means, in words (no path: the caller names the file). */
export function fsProblem(code: string | undefined): string {
  return FS_PROBLEMS.get(code ?? "") ?? `cannot be accessed (${code ?? "unknown error"})`;
}

/** A file-system error (it has an errno code and the path it was about) as a UserError naming that path; anything else: undefined. */
export function fsUserError(error: unknown): UserError | undefined {
  const { code, path } = (error ?? {}) as NodeJS.ErrnoException;
  if (typeof code !== "string" || !/^E[A-Z]+$/.test(code) || typeof path !== "string") return undefined;
  return new UserError(`${path}: ${fsProblem(code)}`);
}

/**
 * Checks that `file` is a regular file this process can read and returns its size; otherwise a
 * UserError naming it and what is wrong (missing, a dangling link, a directory, unreadable).
 */
export async function readableFileSize(file: string): Promise<number> {
  let size: number;
  try {
    const info = await stat(file);
    if (info.isDirectory()) throw new UserError(`${file}: is a directory, not a file`);
    if (!info.isFile()) throw new UserError(`${file}: is not a regular file`);
    size = info.size;
  } catch (error) {
    if (error instanceof UserError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && (await lstat(file).then((l) => l.isSymbolicLink(), () => false))) {
      throw new UserError(`${file}: is a symbolic link to a file that does not exist`);
    }
    throw new UserError(`${file}: ${fsProblem(code)}`);
  }
  try {
    await (await open(file, "r")).close();
  } catch (error) {
    throw new UserError(`${file}: cannot be read (${fsProblem((error as NodeJS.ErrnoException).code)})`);
  }
  return size;
}

/**
 * Checks that `dir` can be an output directory: a directory already, or absent with its nearest
 * existing ancestor a writable directory. Nothing is created.
 */
export async function checkOutputDir(dir: string, flag: string): Promise<void> {
  let path = resolve(dir);
  for (;;) {
    const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return undefined;
      throw new UserError(`${flag} ${dir}: ${fsProblem(error.code)}`);
    });
    if (info) {
      if (!info.isDirectory()) {
        throw new UserError(path === resolve(dir) ? `${flag} ${dir}: is a file, not a directory` : `${flag} ${dir}: ${path} is a file, not a directory`);
      }
      await access(path, constants.W_OK | constants.X_OK).catch(() => {
        throw new UserError(`${flag} ${dir}: ${path} is not writable (permission denied)`);
      });
      return;
    }
    const parent = dirname(path);
    if (parent === path) return;
    path = parent;
  }
}

/**
 * Runs `fn`; if it fails, removes the directories among `paths` and their ancestors that did not
 * exist before and are empty after (a failed command leaves no empty `results/prepared` behind).
 * Only empty directories are removed: what `fn` wrote inside them is its own to clean up.
 */
export async function removeCreatedDirsOnFailure<T>(paths: readonly string[], fn: () => Promise<T>): Promise<T> {
  const missing = new Set<string>();
  for (const path of paths) {
    for (let p = resolve(path); !(await exists(p)); p = dirname(p)) {
      if (dirname(p) === p) break;
      missing.add(p);
    }
  }
  try {
    return await fn();
  } catch (error) {
    // Deepest first, so that a parent is empty by the time it is tried.
    for (const dir of [...missing].sort((a, b) => b.length - a.length)) await rmdir(dir).catch(() => undefined);
    throw error;
  }
}

/** Whether something is at `path` (a file, directory or link). */
export async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}
