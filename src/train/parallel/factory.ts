/**
 * How a worker thread builds its replica of a model: a module (by file URL) exporting a function
 * that takes structured-cloneable arguments and returns the model, built exactly as in the main
 * thread. Its weights need not match: the main thread sends every value before training starts.
 */
import type { ReplicaModel } from "./replica.ts";

export interface ReplicaFactory {
  /** file:// URL of the module. */
  module: string;
  /** Name of the exported builder. */
  exportName: string;
  args: unknown;
}

export async function buildReplica(factory: ReplicaFactory): Promise<ReplicaModel<unknown>> {
  const exports = (await import(factory.module)) as Record<string, unknown>;
  const builder = exports[factory.exportName];
  if (typeof builder !== "function") throw new Error(`${factory.module} has no exported function ${factory.exportName}`);
  return (builder as (args: unknown) => Promise<ReplicaModel<unknown>>)(factory.args);
}
