import { availableParallelism } from "node:os";
import type { BackendName } from "../../engine/index.ts";
import { UserError } from "../../util/errors.ts";

/**
 * Training replicas for `--workers`: "auto" is one per core on wasm and cpu (each runs on a single
 * thread) and 1 on the native backends, whose kernels use every core themselves.
 */
export function replicaCount(choice: string, backend: BackendName): number {
  if (choice === "auto") return backend === "wasm" || backend === "cpu" ? availableParallelism() : 1;
  const n = Number(choice);
  if (!Number.isInteger(n) || n < 1) throw new UserError(`--workers: expected a positive integer or 'auto', got '${choice}'`);
  return n;
}
