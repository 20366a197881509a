/**
 * The engine, mkt's one entry into the tfjs backend and its own kernels: selectBackend installs a
 * backend and mkt's kernel overrides (unless turned off), and the ops below run those kernels where
 * they are registered and plain tfjs ops otherwise. Nothing outside src/engine/ imports anything else
 * from it, so the kernels can change (or be turned off) without touching the models.
 */
export { describeBackends, selectBackend, type BackendChoice, type BackendInfo, type BackendName, type BackendsDescription } from "./backend.ts";
export { loadBlas, setBlasReplicaMode } from "./blas.ts";
export { adamStep, type AdamAttrs } from "./adam-step.ts";
export { denseMatMul } from "./kernels/fused-matmul-grad.ts";
export { diceTrain } from "./dice.ts";
export { pooledRowSums } from "./pooled-rows.ts";
export { fieldPairProducts } from "./field-pairs.ts";
export { withTfjsKernelsOnly } from "./tfjs-only.ts";
export { float32Values } from "./read-values.ts";
export { tensorFrom } from "./write-values.ts";
export { tf } from "./tf.ts";
