/**
 * A scope in which the engine's ops (pooledRowSums, fieldPairProducts, diceTrain) leave mkt's own
 * kernels aside and let their callers compose tfjs ops: an exported forward pass is traced kernel
 * by kernel into a graph of TensorFlow ops, which has no op for a kernel of mkt's. Overrides of
 * tfjs's kernels keep running: they are those kernels.
 */
import { tf } from "./tf.ts";

let depth = 0;

export function withTfjsKernelsOnly<T>(fn: () => T): T {
  depth++;
  try {
    return fn();
  } finally {
    depth--;
  }
}

/** Whether an engine op may run mkt's kernel `kernelName` here: the active backend has it, and no withTfjsKernelsOnly scope is open. */
export function mktKernelRuns(kernelName: string): boolean {
  return depth === 0 && tf.getKernel(kernelName, tf.getBackend()) !== undefined;
}
