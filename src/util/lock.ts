import { mkdir, open, readFile, rm, stat } from "node:fs/promises";
import { hostname } from "node:os";
import { dirname, join } from "node:path";

/**
 * A lock held by one process: a file created exclusively, holding the owner's pid and host. It
 * lets several `mkt run` processes share one run directory (each takes the (model, seed) runs and
 * stages nobody else holds) and one prepared-data root. A lock whose process has died (killed,
 * crashed) is stale and taken over; a lock from another host cannot be checked and counts as held.
 */
export interface FileLock {
  release(): Promise<void>;
}

export interface LockOwner {
  pid: number;
  host: string;
  since: string;
}

/** The lock file of a directory's contents (a model's or a stage's). */
export const lockInside = (dir: string): string => join(dir, ".lock");

/** Takes the lock at `path`, or returns the live owner that holds it. */
export async function tryLock(path: string): Promise<{ lock: FileLock } | { heldBy: LockOwner }> {
  await mkdir(dirname(path), { recursive: true });
  for (;;) {
    const owner: LockOwner = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
    try {
      const file = await open(path, "wx");
      try {
        await file.writeFile(JSON.stringify(owner) + "\n");
      } finally {
        await file.close();
      }
      return { lock: { release: () => rm(path, { force: true }) } };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const holder = await readOwner(path);
    // Gone between open and read, or its owner died: try again (rm of a stale lock is idempotent).
    if (holder === undefined) continue;
    if (isAlive(holder)) return { heldBy: holder };
    await rm(path, { force: true });
  }
}

/** Waits (polling) until the lock can be taken. */
export async function waitForLock(path: string, onWait: (owner: LockOwner) => void, pollMs = 5000): Promise<FileLock> {
  let told = false;
  for (;;) {
    const attempt = await tryLock(path);
    if ("lock" in attempt) return attempt.lock;
    if (!told) onWait(attempt.heldBy);
    told = true;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

async function readOwner(path: string): Promise<LockOwner | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  try {
    return JSON.parse(text) as LockOwner;
  } catch {
    // Created but not yet written by its owner: held for now; stale if it stays unreadable.
    const age = Date.now() - (await stat(path)).mtimeMs;
    return age > UNWRITTEN_STALE_MS ? { pid: 0, host: hostname(), since: "" } : { pid: -1, host: "", since: "" };
  }
}

const UNWRITTEN_STALE_MS = 60_000;

function isAlive(owner: LockOwner): boolean {
  if (owner.pid === -1 || owner.host !== hostname()) return true;
  if (owner.pid === 0) return false;
  return processAlive(owner.pid);
}

/** Whether a process of this host with this pid exists. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes the lock at `path` if its owner is dead. For a directory that is found complete without
 * taking its lock: a process killed after finishing it, before releasing the lock, left one.
 */
export async function removeStaleLock(path: string): Promise<void> {
  const holder = await readOwner(path);
  if (holder !== undefined && !isAlive(holder)) await rm(path, { force: true });
}
