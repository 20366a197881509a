import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildDirAtomic, tempSibling, writeJsonAtomic } from "../../src/util/atomic.ts";
import { CorruptArtefactError, listFiles, sealDir, verifySealed } from "../../src/util/checksums.ts";
import { tempDir } from "../helpers/prepared.ts";
import { otherProcess } from "../helpers/processes.ts";

/** Flips one bit of a file in place. */
async function flipBit(file: string, at = 0): Promise<void> {
  const bytes = await readFile(file);
  bytes[at]! ^= 0x04;
  await writeFile(file, bytes);
}

describe("checksums.json", () => {
  it("seals a directory's files and finds a changed, missing or unlisted one by name", async () => {
    const dir = await tempDir();
    await mkdir(join(dir, "sub"));
    await writeFile(join(dir, "a.json"), '{"auc": 0.71}\n');
    await writeFile(join(dir, "sub", "b.bin"), Buffer.alloc(1000, 7));
    expect(await verifySealed(dir)).toBe(false);
    await sealDir(dir, ["a.json", "sub/b.bin"]);
    expect(await verifySealed(dir)).toBe(true);
    const listed = JSON.parse(await readFile(join(dir, "checksums.json"), "utf8"));
    expect(listed.files["sub/b.bin"].bytes).toBe(1000);
    expect(listed.files["a.json"].sha256).toMatch(/^[0-9a-f]{64}$/);

    await flipBit(join(dir, "sub", "b.bin"), 500);
    expect(await verifySealed(dir, ["a.json"])).toBe(true);
    await expect(verifySealed(dir)).rejects.toThrow(new CorruptArtefactError(join(dir, "sub", "b.bin"), "corrupted (its SHA-256 does not match checksums.json)"));
    await expect(verifySealed(dir, ["c.json"])).rejects.toThrow(/c\.json: not listed in/);
    await flipBit(join(dir, "sub", "b.bin"), 500);
    expect(await verifySealed(dir)).toBe(true);

    await writeFile(join(dir, "a.json"), '{"auc": 0.71}'); // a byte shorter
    await expect(verifySealed(dir)).rejects.toThrow(/a\.json: corrupted/);
    await writeFile(join(dir, "checksums.json"), '{"format": "mkt-chec');
    await expect(verifySealed(dir)).rejects.toThrow(/checksums\.json: corrupted \(not valid JSON\)/);
  });

  it("listFiles skips hidden entries (locks, temporary files) and checksums.json itself", async () => {
    const dir = await tempDir();
    await mkdir(join(dir, "x", ".tmp-y-1"), { recursive: true });
    await writeFile(join(dir, "x", ".tmp-y-1", "z"), "");
    await writeFile(join(dir, "x", "w.parquet"), "");
    await writeFile(join(dir, ".lock"), "");
    await writeFile(join(dir, "schema.json"), "");
    await writeFile(join(dir, "checksums.json"), "");
    expect(await listFiles(dir)).toEqual(["schema.json", "x/w.parquet"]);
  });
});

describe("temporary files of a killed writer", () => {
  it("the next atomic write of the same file or directory removes them, not a live writer's nor another host's", async () => {
    const dir = await tempDir();
    const target = join(dir, "result.json");
    const other = otherProcess();
    const live = tempSibling(target).replace(`-${process.pid}-`, `-${other.pid}-`);
    const dead = tempSibling(target).replace(`-${process.pid}-`, `-${other.pid}-`);
    const foreign = tempSibling(target).replace(/-[0-9a-f]{8}-(\d+)-/, "-00000000-$1-");
    const neighbour = tempSibling(join(dir, "result.json.bak")); // another file's
    for (const file of [live, foreign, neighbour]) await writeFile(file, "partial");
    await writeJsonAtomic(target, { ok: 1 });
    expect([live, foreign, neighbour].map(existsSync)).toEqual([true, true, true]);
    await other.stop();
    await writeFile(dead, "partial");
    await writeJsonAtomic(target, { ok: 2 });
    expect([live, dead, foreign, neighbour].map(existsSync)).toEqual([false, false, true, true]);

    const checkpoint = join(dir, "checkpoint");
    const deadDir = tempSibling(checkpoint).replace(`-${process.pid}-`, `-${other.pid}-`);
    await mkdir(deadDir);
    await writeFile(join(deadDir, "weights.bin"), "partial");
    await buildDirAtomic(checkpoint, async (tmp) => writeFile(join(tmp, "manifest.json"), "{}"));
    expect((await readdir(dir)).sort()).toEqual([basename(foreign), "checkpoint", "result.json", basename(neighbour)].sort());
  });
});
