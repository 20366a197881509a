/**
 * A scope in which the engine's ops (pooledRowSums, diceTrain) leave mkt's own kernels aside and
 * let their callers compose tfjs ops: an exported forward pass is traced kernel by kernel into a
 * graph of TensorFlow ops, which has no op for a kernel of mkt's. Overrides of tfjs's kernels
 * keep running: they are those kernels.
 */
let depth = 0;

export function withTfjsKernelsOnly<T>(fn: () => T): T {
  depth++;
  try {
    return fn();
  } finally {
    depth--;
  }
}

/** Whether the engine's ops may run mkt's own kernels here (outside withTfjsKernelsOnly). */
export function mktKernelsAllowed(): boolean {
  return depth === 0;
}
