/**
 * Masked sums of embedding rows as one kernel of mkt's on wasm (pooled-rows-simd.wat):
 * `MktPooledRows` gives out[b] = Σ_t mask[b, t] · table[ids[b, t]] for ids and mask [B, L], and its
 * gradient `MktPooledRowsGrad` scatters mask · ∂L/∂out into the table's rows. Mean pooling a
 * sequence by looking its rows up ([B, L, E]) and multiplying by the mask writes and reads that
 * tensor twice over in each direction; here the table's rows are read where they are. The sums and
 * the table gradient are the same bits as the lookup-then-product path on wasm with mkt's kernels
 * (the same float32 products and sums in the same order: pooled-rows-simd.wat).
 *
 * MktPooledRows: inputs table float32 [V, E] (E a multiple of 4), ids int32 [B, L] (0 ≤ id < V,
 * checked), mask float32 [B, L]; output [B, E]. MktPooledRowsGrad: inputs dy [B, E], ids, mask;
 * attr vocab (V); output [V, E].
 */
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../tf.ts";
import { WASM_BASE64 } from "./pooled-rows-simd.wasm.ts";
import { heapKernelContext } from "./wasm-module.ts";
import type { KernelAddition } from "./types.ts";

export const POOLED_ROWS_KERNEL = "MktPooledRows";
export const POOLED_ROWS_GRAD_KERNEL = "MktPooledRowsGrad";

interface PooledRowsPasses {
  sums(table: number, ids: number, mask: number, out: number, batch: number, length: number, dim: number): void;
  grad(ids: number, mask: number, dsums: number, dtable: number, batch: number, length: number, dim: number): void;
}

/** Whether the kernel takes these shapes: table [V, E] with E a multiple of 4, ids and mask [B, L]. */
export function pooledRowsShapes(table: readonly number[], ids: readonly number[]): boolean {
  return table.length === 2 && table[1]! % 4 === 0 && table[1]! > 0 && ids.length === 2;
}

/** Every id is a row of a table of `vocab` rows: the kernels read and write rows at them. */
function checkIds(ids: Int32Array, vocab: number): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (!(id >= 0 && id < vocab)) throw new Error(`${POOLED_ROWS_KERNEL}: id ${id} at position ${i} is not a row of the ${vocab}-row table`);
  }
}

const wasmPooledRows: TF.KernelFunc = (args) => {
  const { table, ids, mask } = args.inputs as { table: TF.TensorInfo; ids: TF.TensorInfo; mask: TF.TensorInfo };
  const { b, passes, at } = heapKernelContext<PooledRowsPasses>(POOLED_ROWS_KERNEL, WASM_BASE64, args.backend);
  const [vocab, dim] = table.shape as [number, number];
  const [batch, length] = ids.shape as [number, number];
  checkIds(b.typedArrayFromHeap(ids) as unknown as Int32Array, vocab);
  const out = b.makeOutput([batch, dim], "float32");
  passes.sums(at(table), at(ids), at(mask), at(out), batch, length, dim);
  return out;
};

const wasmPooledRowsGrad: TF.KernelFunc = (args) => {
  const { dy, ids, mask } = args.inputs as { dy: TF.TensorInfo; ids: TF.TensorInfo; mask: TF.TensorInfo };
  const vocab = (args.attrs as { vocab: number }).vocab;
  const { b, passes, at } = heapKernelContext<PooledRowsPasses>(POOLED_ROWS_GRAD_KERNEL, WASM_BASE64, args.backend);
  const [batch, dim] = dy.shape as [number, number];
  const length = ids.shape[1]!;
  checkIds(b.typedArrayFromHeap(ids) as unknown as Int32Array, vocab);
  const dtable = b.makeOutput([vocab, dim], "float32");
  b.typedArrayFromHeap(dtable).fill(0);
  passes.grad(at(ids), at(mask), at(dy), at(dtable), batch, length, dim);
  return dtable;
};

/** MktPooledRows's gradient: the table's only (ids and mask are data). */
const pooledRowsGradient: TF.GradConfig = {
  kernelName: POOLED_ROWS_KERNEL,
  inputsToSave: ["table", "ids", "mask"],
  gradFunc: (dy, saved) => {
    const [table, ids, mask] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
    return {
      table: () => tf.engine().runKernel(POOLED_ROWS_GRAD_KERNEL, { dy: dy as tf.Tensor, ids, mask }, { vocab: table.shape[0] }) as tf.Tensor,
      ids: () => tf.zerosLike(ids),
      mask: () => tf.zerosLike(mask),
    };
  },
};

/** The kernels (and MktPooledRows's gradient), registered and removed through the kernel registry. */
export const pooledRowsKernels: readonly KernelAddition[] = [
  { name: `wasm:${POOLED_ROWS_KERNEL}/simd`, config: { kernelName: POOLED_ROWS_KERNEL, backendName: "wasm", kernelFunc: wasmPooledRows }, gradient: pooledRowsGradient },
  { name: `wasm:${POOLED_ROWS_GRAD_KERNEL}/simd`, config: { kernelName: POOLED_ROWS_GRAD_KERNEL, backendName: "wasm", kernelFunc: wasmPooledRowsGrad } },
];
