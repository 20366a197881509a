/**
 * TensorFlow.js for all of mkt, loaded on first use. `tf` is both the value (the package) and a
 * namespace of the types mkt names as `tf.X`, like `import * as tf`.
 * - Through `require`, not `import`: the package is CommonJS, and Node's ESM loader first scans its
 *   1.3 MB bundle and the bundles it re-exports for export names, 0.3 s at every start.
 * - On first use, not at import: checking a spec reads the models' own spec sections, and so
 *   imports every model file; loading tfjs (0.2 s) then would make a spec error slow. Until then
 *   `tf` is a stand-in whose first property read loads the package and rebinds `tf` to it (an ES
 *   module's exported binding is live), so every later `tf.op` is a plain property read.
 * (docs/performance.md, "Start-up".)
 */
import { createRequire } from "node:module";
import type * as TF from "@tensorflow/tfjs";

type Tfjs = typeof TF;

function load(): Tfjs {
  tf = createRequire(import.meta.url)("@tensorflow/tfjs") as Tfjs;
  return tf;
}

export let tf: Tfjs = new Proxy({} as Tfjs, { get: (_target, key) => (load() as unknown as Record<string | symbol, unknown>)[key] });

// The types the layers, models, trainers and export name (the kernels inside the engine take tfjs's
// kernel types from the package itself).
// eslint-disable-next-line @typescript-eslint/no-namespace
export declare namespace tf {
  export type Tensor<R extends TF.Rank = TF.Rank> = TF.Tensor<R>;
  export type Scalar = TF.Scalar;
  export type Tensor1D = TF.Tensor1D;
  export type Tensor2D = TF.Tensor2D;
  export type Tensor3D = TF.Tensor3D;
  export type Variable<R extends TF.Rank = TF.Rank> = TF.Variable<R>;
  export type DataType = TF.DataType;
  export type NamedTensorMap = TF.NamedTensorMap;
  export type NamedAttrMap = TF.NamedAttrMap;
  export type GradSaveFunc = TF.GradSaveFunc;
  export namespace io {
    export type WeightsManifestEntry = TF.io.WeightsManifestEntry;
  }
}
