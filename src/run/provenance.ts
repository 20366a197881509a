import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { cpus, platform } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "../util/zod.ts";
import type { BackendInfo } from "../engine/index.ts";

/** The directory of mkt's own package.json (its installation), found from this file's location. */
export function packageRoot(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, "utf8")) as { name?: string }).name === "mkt") return dir;
    if (dirname(dir) === dir) throw new Error(`mkt's package.json not found above ${from}`);
  }
}

/**
 * The commit of mkt's own checkout at `root` ("+dirty" when tracked files have uncommitted
 * changes), or "unknown" when mkt is not a git checkout (e.g. installed by npm) or git is missing.
 * git runs on `root` only, never in the working directory, must not find a repository above
 * `root` (an installation inside someone else's repository), and takes no optional locks, so it
 * writes nothing (no index refresh).
 */
export function gitCommit(root = packageRoot()): string {
  if (!existsSync(join(root, ".git"))) return "unknown";
  const env: NodeJS.ProcessEnv = { ...process.env, GIT_OPTIONAL_LOCKS: "0", GIT_CEILING_DIRECTORIES: dirname(root) };
  // Variables that would point git at another repository than root's.
  for (const name of ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY", "GIT_NAMESPACE"]) delete env[name];
  const git = (...args: string[]) => execFileSync("git", ["-C", root, ...args], { encoding: "utf8", env, stdio: ["ignore", "pipe", "ignore"] }).trim();
  try {
    const commit = git("rev-parse", "HEAD");
    return git("status", "--porcelain", "--untracked-files=no") ? `${commit}+dirty` : commit;
  } catch {
    return "unknown";
  }
}

/** gitCommit() of this process's mkt, asked once. */
let ownCommit: string | undefined;

/** Where and with what a result was computed (SPEC §5): result.json's `provenance`. */
export const provenanceSchema = z.object({
  experiment: z.string(),
  specFile: z.string(),
  specHash: z.string(),
  dataset: z.string(),
  datasetFingerprint: z.string(),
  backend: z.string(),
  tfjsBackend: z.string(),
  kernelOverrides: z.array(z.string()),
  /** Training replicas (data-parallel worker threads); 1 = the main thread alone (absent in results written before replicas existed). */
  replicas: z.number().int().min(1).optional(),
  versions: z.record(z.string(), z.string()),
  gitCommit: z.string(),
  machine: z.object({ platform: z.string(), cpus: z.number().int(), cpuModel: z.string() }),
});
export type Provenance = z.output<typeof provenanceSchema>;

export function provenance(fields: Pick<Provenance, "experiment" | "specFile" | "specHash" | "dataset" | "datasetFingerprint">, backend: BackendInfo): Provenance {
  const cpu = cpus();
  return {
    ...fields,
    backend: backend.name,
    tfjsBackend: backend.tfjsBackend,
    kernelOverrides: backend.kernelOverrides,
    replicas: backend.replicas ?? 1,
    versions: backend.versions,
    gitCommit: (ownCommit ??= gitCommit()),
    machine: { platform: `${platform()}/${process.arch}`, cpus: cpu.length, cpuModel: cpu[0]?.model ?? "unknown" },
  };
}
