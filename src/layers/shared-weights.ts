import type * as tf from "@tensorflow/tfjs";
import { UserError } from "../util/errors.ts";
import type { Module } from "./params.ts";

/** Shape and dtype of a stored value (a checkpoint entry, a tensor). */
export interface StoredInfo {
  shape: readonly number[];
  dtype: string;
}

/** Why a stored value cannot fill `variable`, or undefined if it can. */
export function mismatch(name: string, entry: StoredInfo, variable: tf.Variable): string | undefined {
  if (entry.dtype === variable.dtype && sameShape(entry.shape, variable.shape)) return undefined;
  return `'${name}' is ${entry.dtype}[${entry.shape.join(", ")}] but the model has ${variable.dtype}[${variable.shape.join(", ")}]`;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Which stored value, if any, fills each variable of a module in a partial load. */
export interface PartialLoadOptions {
  /**
   * The stored name for a module variable's name, or undefined to leave that variable as it is
   * (default: the same name). A prefix filter, e.g. `(n) => (n.startsWith("m/dnn/") ? n : undefined)`,
   * or a renaming between modules named differently.
   */
  storedName?: (name: string) => string | undefined;
}

export interface PartialLoadResult {
  /** Module variables that received stored values, in the module's order. */
  loaded: string[];
  /** Module variables left as they were: excluded by `storedName` or absent from the store. */
  kept: string[];
}

/**
 * Pairs each module variable with its stored value's name. A variable whose stored counterpart has
 * another shape or dtype is an error (one message listing all), not a silent skip: the two models
 * were meant to share it.
 */
export function selectPartial(
  module: Module,
  stored: ReadonlyMap<string, StoredInfo>,
  options: PartialLoadOptions,
  what: string,
): { pairs: Array<[string, string]>; result: PartialLoadResult } {
  const pairs: Array<[string, string]> = [];
  const result: PartialLoadResult = { loaded: [], kept: [] };
  const problems: string[] = [];
  for (const [name, variable] of module.namedVariables()) {
    const storedName = options.storedName ? options.storedName(name) : name;
    const entry = storedName === undefined ? undefined : stored.get(storedName);
    if (storedName === undefined || entry === undefined) {
      result.kept.push(name);
      continue;
    }
    const problem = mismatch(name, entry, variable);
    if (problem) problems.push(storedName === name ? problem : `${problem} (stored as '${storedName}')`);
    pairs.push([name, storedName]);
    result.loaded.push(name);
  }
  if (problems.length) throw new UserError(`${what} does not match model '${module.name}': ${problems.join("; ")}`);
  return { pairs, result };
}

/**
 * The in-memory form of loadCheckpointPartial: `stored` is another module's namedVariables() or a
 * snapshot. Values are shared, not copied (as in restore), and stay valid when `stored` is disposed.
 */
export function restorePartial(module: Module, stored: ReadonlyMap<string, tf.Tensor>, options: PartialLoadOptions = {}): PartialLoadResult {
  const { pairs, result } = selectPartial(module, stored, options, "stored weights");
  const variables = module.namedVariables();
  for (const [name, storedName] of pairs) variables.get(name)!.assign(stored.get(storedName)!);
  return result;
}

