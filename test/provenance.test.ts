import { spawnSync } from "node:child_process";
import { mkdir, readFile, stat, utimes, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { gitCommit, packageRoot } from "../src/run/provenance.ts";
import { tempDir } from "./helpers/prepared.ts";

const git = (cwd: string, ...args: string[]) => spawnSync("git", ["-C", cwd, "-c", "user.email=t@t", "-c", "user.name=t", ...args], { encoding: "utf8" }).stdout.trim();

/** A repository with one committed file, whose index a `git status` without GIT_OPTIONAL_LOCKS=0 would rewrite. */
async function otherRepository(): Promise<{ dir: string; commit: string; index: () => Promise<[string, number]> }> {
  const dir = await tempDir("mkt-other-repo-");
  git(dir, "init", "-q");
  await writeFile(join(dir, "notes.txt"), "theirs\n");
  git(dir, "add", "notes.txt");
  git(dir, "commit", "-qm", "theirs");
  // Same content, newer time: git's stat cache is stale, and a plain `git status` refreshes (writes) the index.
  const later = new Date(Date.now() + 5000);
  await utimes(join(dir, "notes.txt"), later, later);
  const index = async (): Promise<[string, number]> => [(await readFile(join(dir, ".git", "index"))).toString("hex"), (await stat(join(dir, ".git", "index"))).mtimeMs];
  return { dir, commit: git(dir, "rev-parse", "HEAD"), index };
}

describe("provenance: git information of mkt's own installation", () => {
  it("mkt's package root is found from its own files; the commit is its checkout's (+dirty when tracked files changed)", () => {
    expect(packageRoot()).toBe(resolve("."));
    const head = git(".", "rev-parse", "HEAD");
    const dirty = git(".", "status", "--porcelain", "--untracked-files=no") !== "";
    expect(gitCommit()).toBe(dirty ? `${head}+dirty` : head);
  });

  it("records another checkout's commit without writing its index", async () => {
    const other = await otherRepository();
    const before = await other.index();
    expect(gitCommit(other.dir)).toBe(other.commit);
    expect(await other.index()).toEqual(before);
  });

  it("an installation that is not a git checkout is 'unknown', even inside another repository", async () => {
    const other = await otherRepository();
    const installed = join(other.dir, "node_modules", "mkt");
    await mkdir(installed, { recursive: true });
    await writeFile(join(installed, "package.json"), JSON.stringify({ name: "mkt" }));
    const before = await other.index();
    expect(packageRoot(join(installed))).toBe(installed);
    expect(gitCommit(installed)).toBe("unknown");
    expect(await other.index()).toEqual(before);
  });

  it("run from inside another repository, mkt records its own commit and leaves that repository's index alone", async () => {
    const other = await otherRepository();
    const before = await other.index();
    const script = join(other.dir, "provenance.mjs");
    await writeFile(
      script,
      `import { register } from ${JSON.stringify(import.meta.resolve("tsx/esm/api"))};\nregister();\n` +
        `const { gitCommit } = await import(${JSON.stringify(pathToFileURL(resolve("src/run/provenance.ts")).href)});\nconsole.log(gitCommit());\n`,
    );
    const printed = spawnSync(process.execPath, [script], { cwd: other.dir, encoding: "utf8" });
    expect(printed.status).toBe(0);
    expect(printed.stdout.trim()).toBe(gitCommit());
    expect(printed.stdout.trim().startsWith(other.commit)).toBe(false);
    expect(await other.index()).toEqual(before);
  });
});
