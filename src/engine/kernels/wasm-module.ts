/**
 * mkt's own WebAssembly modules (the `*.wat` sources beside this file, compiled by
 * `npm run build:wasm` into `*.wasm.ts`), instantiated on tfjs-backend-wasm's heap.
 *
 * The emscripten module of tfjs-backend-wasm 4.22 exports its WebAssembly.Memory
 * (`backend.wasm.asm.memory`, the buffer behind HEAPU8). A module that imports it as `env.memory`
 * works on the tensors' bytes directly, at their byte offsets (`backend.getMemoryOffset(dataId)`),
 * which stay valid when the heap grows (only JS views of it detach). Each module is compiled once
 * and instantiated once per memory.
 */
import type * as tf from "@tensorflow/tfjs";

/** What mkt's wasm kernels use of tfjs-backend-wasm's backend object (it has no exported type). */
export interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  /** A view of a tensor's heap bytes: take it after every makeOutput (growing the heap detaches older ones). */
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  /** A tensor's byte offset in the heap: stays valid when the heap grows. */
  getMemoryOffset(dataId: tf.DataId): number;
  disposeData(dataId: tf.DataId): boolean;
}

export interface WasmMemory {
  readonly buffer: ArrayBuffer;
}

/** The little of the WebAssembly JS API used here (TypeScript declares it only in the DOM libs). */
const wasmApi = (globalThis as unknown as {
  WebAssembly: {
    Memory: abstract new (...args: never[]) => WasmMemory;
    Module: new (bytes: Uint8Array) => object;
    Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => { exports: Record<string, unknown> };
  };
}).WebAssembly;

/** tfjs-backend-wasm's heap, or undefined where it is not reachable (another backend, another build). */
export function wasmHeapMemory(backend: unknown): WasmMemory | undefined {
  const memory = (backend as { wasm?: { asm?: { memory?: unknown } } } | undefined)?.wasm?.asm?.memory;
  return memory instanceof wasmApi.Memory ? memory : undefined;
}

interface Compiled {
  module: object;
  instances: WeakMap<WasmMemory, Record<string, unknown>>;
}
/** Keyed by the generated module's base64 text (one entry per WAT source). */
const compiled = new Map<string, Compiled>();

/**
 * The exports of the module whose bytes are `base64` (a generated `*.wasm.ts`'s WASM_BASE64),
 * instantiated with `memory` as its `env.memory`.
 */
export function heapModuleExports(base64: string, memory: WasmMemory): Record<string, unknown> {
  let entry = compiled.get(base64);
  if (entry === undefined) {
    entry = { module: new wasmApi.Module(Buffer.from(base64, "base64")), instances: new WeakMap() };
    compiled.set(base64, entry);
  }
  let exports = entry.instances.get(memory);
  if (exports === undefined) {
    exports = new wasmApi.Instance(entry.module, { env: { memory } }).exports;
    entry.instances.set(memory, exports);
  }
  return exports;
}


/** What a kernel of mkt's running on the heap works with: the backend, its module's exports and each tensor's byte offset. */
export interface HeapKernelContext<Exports> {
  b: WasmHeapBackend;
  passes: Exports;
  at(t: tf.TensorInfo): number;
}

/**
 * The backend of a kernel call (`backend` from its arguments) with the exports of the module whose
 * bytes are `base64` on its heap; undefined where the heap is not reachable (another build of the
 * backend), for kernels that then fall back to tfjs's or a JavaScript loop.
 */
export function heapContext<Exports>(base64: string, backend: unknown): HeapKernelContext<Exports> | undefined {
  const b = backend as WasmHeapBackend;
  const memory = wasmHeapMemory(b);
  if (memory === undefined) return undefined;
  return { b, passes: heapModuleExports(base64, memory) as Exports, at: (t) => b.getMemoryOffset(t.dataId) };
}

/** heapContext for a kernel registered for wasm alone: it throws, naming itself, where the heap is not reachable. */
export function heapKernelContext<Exports>(kernelName: string, base64: string, backend: unknown): HeapKernelContext<Exports> {
  const context = heapContext<Exports>(base64, backend);
  if (context === undefined) throw new Error(`${kernelName}: the wasm backend's heap is not reachable`);
  return context;
}
