import { execFileSync } from "node:child_process";
import { cpus, platform } from "node:os";
import type { BackendInfo } from "../engine/backend.ts";

/** The repository commit the code ran from ("+dirty" when it had uncommitted changes), or "unknown". */
export function gitCommit(): string {
  try {
    const commit = execFileSync("git", ["rev-parse", "HEAD"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    return dirty ? `${commit}+dirty` : commit;
  } catch {
    return "unknown";
  }
}

/** Where and with what a result was computed (SPEC §5). */
export interface Provenance {
  experiment: string;
  specFile: string;
  specHash: string;
  dataset: string;
  datasetFingerprint: string;
  backend: string;
  tfjsBackend: string;
  kernelOverrides: string[];
  /** Training replicas (data-parallel worker threads); 1 = the main thread alone (absent in results written before replicas existed). */
  replicas?: number;
  versions: Record<string, string>;
  gitCommit: string;
  machine: { platform: string; cpus: number; cpuModel: string };
}

export function provenance(fields: Pick<Provenance, "experiment" | "specFile" | "specHash" | "dataset" | "datasetFingerprint">, backend: BackendInfo): Provenance {
  const cpu = cpus();
  return {
    ...fields,
    backend: backend.name,
    tfjsBackend: backend.tfjsBackend,
    kernelOverrides: backend.kernelOverrides,
    replicas: backend.replicas ?? 1,
    versions: backend.versions,
    gitCommit: gitCommit(),
    machine: { platform: `${platform()}/${process.arch}`, cpus: cpu.length, cpuModel: cpu[0]?.model ?? "unknown" },
  };
}
