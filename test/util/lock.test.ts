import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { removeStaleLock, tryLock, waitForLock } from "../../src/util/lock.ts";
import { tempDir } from "../helpers/prepared.ts";
import { otherProcess } from "../helpers/processes.ts";

const ownerText = (pid: number, host = hostname()) => JSON.stringify({ pid, host, since: new Date().toISOString() });

describe("file locks shared by processes", () => {
  it("one holder at a time; release frees it and removes the file", async () => {
    const file = join(await tempDir(), "a", ".lock");
    const first = await tryLock(file);
    expect("lock" in first).toBe(true);
    expect(JSON.parse(await readFile(file, "utf8")).pid).toBe(process.pid);
    const second = await tryLock(file);
    expect(second).toEqual({ heldBy: expect.objectContaining({ pid: process.pid, host: hostname() }) });
    if ("lock" in first) await first.lock.release();
    expect(existsSync(file)).toBe(false);
    const third = await tryLock(file);
    expect("lock" in third).toBe(true);
    if ("lock" in third) await third.lock.release();
  });

  it("a lock held by a live process is respected; once that process dies the lock is stale and taken over", async () => {
    const file = join(await tempDir(), ".lock");
    const other = otherProcess();
    await writeFile(file, ownerText(other.pid));
    expect(await tryLock(file)).toEqual({ heldBy: expect.objectContaining({ pid: other.pid }) });
    await other.stop();
    const taken = await tryLock(file);
    expect("lock" in taken).toBe(true);
    expect(JSON.parse(await readFile(file, "utf8")).pid).toBe(process.pid);
    if ("lock" in taken) await taken.lock.release();
  });

  it("a lock from another host cannot be checked and counts as held", async () => {
    const file = join(await tempDir(), ".lock");
    await writeFile(file, ownerText(999_999_999, `not-${hostname()}`));
    expect(await tryLock(file)).toEqual({ heldBy: expect.objectContaining({ host: `not-${hostname()}` }) });
  });

  it("waitForLock waits for the holder to go, then takes the lock", async () => {
    const file = join(await tempDir(), ".lock");
    const other = otherProcess();
    await writeFile(file, ownerText(other.pid));
    const waited: number[] = [];
    let told!: () => void;
    const toldWait = new Promise<void>((r) => (told = r));
    const acquiring = waitForLock(
      file,
      (owner) => {
        waited.push(owner.pid);
        told();
      },
      20,
    );
    // Told it waits for the holder (however long the machine takes to get there), and only once.
    await toldWait;
    await other.stop();
    const lock = await acquiring;
    expect(waited).toEqual([other.pid]);
    expect(JSON.parse(await readFile(file, "utf8")).pid).toBe(process.pid);
    await lock.release();
  });

  it("removeStaleLock removes a dead owner's lock (a process killed after finishing, before releasing) and keeps a live one's", async () => {
    const dir = await tempDir();
    const other = otherProcess();
    await writeFile(join(dir, "live.lock"), ownerText(other.pid));
    await writeFile(join(dir, "dead.lock"), ownerText(other.pid));
    await removeStaleLock(join(dir, "live.lock"));
    expect(existsSync(join(dir, "live.lock"))).toBe(true);
    await other.stop();
    await removeStaleLock(join(dir, "dead.lock"));
    expect(existsSync(join(dir, "dead.lock"))).toBe(false);
    await removeStaleLock(join(dir, "absent.lock"));
  });
});
