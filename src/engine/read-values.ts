/**
 * Reading a float32 tensor's values without the copy dataSync() makes where the backend allows it:
 * on wasm a view of the tensor's bytes in the backend's heap. The view is valid only until the next
 * tensor is allocated (a growing heap detaches it), so copy it out at once.
 */
import { tf } from "./tf.ts";
import type { WasmHeapBackend } from "./kernels/wasm-module.ts";

/** Values of a float32 tensor: a heap view on wasm (copy it before allocating), else dataSync(). */
export function float32Values(t: tf.Tensor): Float32Array {
  if (t.dtype !== "float32") throw new Error(`float32Values: a ${t.dtype} tensor`);
  const backend = tf.engine().backend as unknown as Partial<WasmHeapBackend>;
  if (tf.getBackend() === "wasm" && typeof backend.typedArrayFromHeap === "function") return backend.typedArrayFromHeap(t);
  return t.dataSync() as Float32Array;
}
