/**
 * Making a tensor from values written in place: on wasm straight into the tensor's heap bytes
 * (tf.tensor would take a JS array and copy it there), elsewhere into a new array the tensor then
 * owns. A batch's inputs are several MB of ids per batch: the JS arrays and the second copy were
 * most of turning a batch into tensors.
 */
import { tf } from "./tf.ts";
import type { WasmHeapBackend } from "./kernels/wasm-module.ts";

type Values<D extends "float32" | "int32"> = D extends "float32" ? Float32Array : Int32Array;

/**
 * A new tensor of `shape` whose values `write` sets, every one of them (on wasm the memory starts
 * as it was left). `write` must not make tensors: a growing heap would detach its view.
 */
export function tensorFrom<D extends "float32" | "int32">(shape: number[], dtype: D, write: (values: Values<D>) => void): tf.Tensor {
  const backend = tf.engine().backend as unknown as Partial<WasmHeapBackend>;
  if (tf.getBackend() === "wasm" && typeof backend.makeOutput === "function" && typeof backend.typedArrayFromHeap === "function") {
    const info = backend.makeOutput(shape, dtype);
    write(backend.typedArrayFromHeap(info) as unknown as Values<D>);
    return tf.engine().makeTensorFromTensorInfo(info);
  }
  const values = (dtype === "float32" ? new Float32Array(tf.util.sizeFromShape(shape)) : new Int32Array(tf.util.sizeFromShape(shape))) as Values<D>;
  write(values);
  return tf.tensor(values, shape, dtype);
}
