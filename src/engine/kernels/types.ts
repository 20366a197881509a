import type * as tf from "@tensorflow/tfjs";

/** A replacement kernelFunc for one backend's kernel, wrapping the original (see registry.ts). */
export interface KernelOverride {
  /** Stable name, reported by selectBackend / `mkt info`. */
  name: string;
  kernelName: string;
  backendName: string;
  /** Builds the replacement kernelFunc around the original one. */
  wrap(original: tf.KernelFunc): tf.KernelFunc;
}

/** A replacement for an entry of tfjs's (global) gradient registry, applied with its backend's overrides. */
export interface GradientOverride {
  /** Stable name, reported with its backend's kernel overrides. */
  name: string;
  /** The kernel whose registered gradient it replaces. */
  kernelName: string;
  /** The backend whose overrides it is applied and removed with. */
  backendName: string;
  /** Builds the replacement gradient config around the original one. */
  wrap(original: tf.GradConfig): tf.GradConfig;
}

/** A change to tfjs's engine object (not a kernel), applied and removed with its backend's overrides. */
export interface EnginePatch {
  /** Stable name, reported with its backend's kernel overrides. */
  name: string;
  /** The backend whose overrides it is applied and removed with. */
  backendName: string;
  apply(): void;
  remove(): void;
  applied(): boolean;
}

/** A kernel mkt adds (tfjs has none by its name), with the gradient tfjs needs to differentiate it. */
export interface KernelAddition {
  /** Stable name, reported with its backend's kernel overrides. */
  name: string;
  config: tf.KernelConfig;
  gradient?: tf.GradConfig;
}
