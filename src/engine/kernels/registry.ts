/**
 * The one registry of kernel overrides (replacement kernelFuncs for specific backend kernels), of
 * the kernels mkt adds (ADDITIONS, e.g. the fused Adam step: code that runs them falls back to tfjs
 * ops where they are not registered) and of gradient overrides and additions (tfjs's gradient
 * registry is global: a gradFunc checks the active backend itself) and of changes to tfjs's engine
 * object (ENGINE_PATCHES, e.g. how it saves tensors for gradients). Each is applied and removed
 * with its backend's overrides. An override re-registers a kernel config wrapping the original,
 * which travels on the config itself (under a global symbol): the state lives in tfjs's registries,
 * so applying is idempotent and removal restores exactly what was there.
 */
import type * as TF from "@tensorflow/tfjs";
import { tf } from "../tf.ts";
import { wasmBatchMatMulOverride } from "./wasm-batchmatmul.ts";
import { adamKernels } from "./adam-kernel.ts";
import { diceKernels } from "./dice-kernel.ts";
import { pooledRowsKernels } from "./pooled-rows-kernel.ts";
import { fieldPairsKernels } from "./field-pairs-kernel.ts";
import { wasmCopyOverrides } from "./wasm-copy.ts";
import { wasmFusedMatMulOverride } from "./wasm-fusedmatmul.ts";
import { wasmBlasBatchMatMulOverride, wasmBlasFusedMatMulOverride } from "./wasm-blas-matmul.ts";
import { loadedBlas } from "../blas.ts";
import { wasmMeanOverride, wasmSumOverride } from "./wasm-sum.ts";
import { wasmBroadcastOverrides } from "./wasm-broadcast.ts";
import { reluGradient, reluGradKernels } from "./relu-grad.ts";
import { fusedMatMulGradient } from "./fused-matmul-grad.ts";
import { savedTensorsPatch } from "./saved-tensors.ts";
import type { EnginePatch, GradientOverride, KernelOverride, KernelAddition } from "./types.ts";

/** The matmul kernels on OpenBLAS where it loaded (engine/blas.ts), else with explicit transposes. */
const MATMUL = { blas: [wasmBlasBatchMatMulOverride, wasmBlasFusedMatMulOverride], plain: [wasmBatchMatMulOverride, wasmFusedMatMulOverride] };

/** The overrides of the other kernels (one variant each). */
const OTHERS: readonly KernelOverride[] = [...wasmCopyOverrides, wasmSumOverride, wasmMeanOverride, ...wasmBroadcastOverrides];

/** Every override that can be registered (both matmul variants: removal must find either). */
const ALL_OVERRIDES: readonly KernelOverride[] = [...MATMUL.blas, ...MATMUL.plain, ...OTHERS];

export interface OverrideOptions {
  /** Use the OpenBLAS matmul kernels when the library loaded (default true). */
  blas?: boolean;
}

/** The overrides to apply: one per kernel. */
function overrides(options: OverrideOptions = {}): readonly KernelOverride[] {
  const matmul = options.blas !== false && loadedBlas() ? MATMUL.blas : MATMUL.plain;
  return [...matmul, ...OTHERS];
}

const GRADIENTS: readonly GradientOverride[] = [{ name: "grad:Relu/MktReluGrad", kernelName: "Relu", backendName: "wasm", wrap: reluGradient }];

/** Gradients for kernels tfjs registers none for, applied and removed with their backend's overrides. */
const GRADIENT_ADDITIONS: readonly { name: string; backendName: string; gradient: TF.GradConfig }[] = [
  { name: "grad:_FusedMatMul/per-input", backendName: "wasm", gradient: fusedMatMulGradient },
];

const ADDITIONS: readonly KernelAddition[] = [...adamKernels, ...reluGradKernels, ...diceKernels, ...pooledRowsKernels, ...fieldPairsKernels];

/** Changes to tfjs's engine itself. */
const ENGINE_PATCHES: readonly EnginePatch[] = [savedTensorsPatch];

const ORIGINAL = Symbol.for("mkt.kernelOverride");

interface OverriddenConfig extends TF.KernelConfig {
  [ORIGINAL]?: { name: string; original: TF.KernelConfig };
}

interface OverriddenGradient extends TF.GradConfig {
  [ORIGINAL]?: { name: string; original: TF.GradConfig };
}

function registeredGradient(g: GradientOverride): OverriddenGradient | undefined {
  return tf.getGradient(g.kernelName) as OverriddenGradient | undefined;
}

function registered(o: KernelOverride): OverriddenConfig | undefined {
  return tf.getKernel(o.kernelName, o.backendName) as OverriddenConfig | undefined;
}

/** Names of the overrides defined for a backend (whether applied or not). */
export function kernelOverridesFor(backendName: string, options: OverrideOptions = {}): string[] {
  return [
    ...overrides(options).filter((o) => o.backendName === backendName).map((o) => o.name),
    ...ADDITIONS.filter((a) => a.config.backendName === backendName).map((a) => a.name),
    ...GRADIENTS.filter((g) => g.backendName === backendName).map((g) => g.name),
    ...GRADIENT_ADDITIONS.filter((g) => g.backendName === backendName).map((g) => g.name),
    ...ENGINE_PATCHES.filter((p) => p.backendName === backendName).map((p) => p.name),
  ];
}

/** Names of the overrides currently registered for a backend. */
export function activeKernelOverrides(backendName: string): string[] {
  return [
    ...ALL_OVERRIDES.filter((o) => o.backendName === backendName && registered(o)?.[ORIGINAL]?.name === o.name).map((o) => o.name),
    ...ADDITIONS.filter((a) => a.config.backendName === backendName && tf.getKernel(a.config.kernelName, backendName) !== undefined).map((a) => a.name),
    ...GRADIENTS.filter((g) => g.backendName === backendName && registeredGradient(g)?.[ORIGINAL]?.name === g.name).map((g) => g.name),
    ...GRADIENT_ADDITIONS.filter((g) => g.backendName === backendName && tf.getGradient(g.gradient.kernelName) === g.gradient).map((g) => g.name),
    ...ENGINE_PATCHES.filter((p) => p.backendName === backendName && p.applied()).map((p) => p.name),
  ];
}

/**
 * Applies every override for `backendName`; returns the names now active. Idempotent. An override
 * whose kernel is not registered (backend package not imported yet) is skipped.
 */
export function applyKernelOverrides(backendName: string, options: OverrideOptions = {}): string[] {
  for (const o of overrides(options)) {
    if (o.backendName !== backendName) continue;
    const current = registered(o);
    if (current === undefined || current[ORIGINAL] !== undefined) continue;
    const replacement: OverriddenConfig = {
      ...current, // keeps setupFunc/disposeFunc: the engine calls them on every setBackend
      kernelFunc: o.wrap(current.kernelFunc),
      [ORIGINAL]: { name: o.name, original: current },
    };
    tf.unregisterKernel(o.kernelName, o.backendName); // registerKernel alone would warn
    tf.registerKernel(replacement);
  }
  for (const a of ADDITIONS) {
    if (a.config.backendName !== backendName || tf.getKernel(a.config.kernelName, backendName) !== undefined) continue;
    tf.registerKernel(a.config);
    if (a.gradient !== undefined && tf.getGradient(a.gradient.kernelName) === undefined) tf.registerGradient(a.gradient);
  }
  for (const g of GRADIENTS) {
    const current = g.backendName === backendName ? registeredGradient(g) : undefined;
    if (current === undefined || current[ORIGINAL] !== undefined) continue;
    const replacement: OverriddenGradient = { ...g.wrap(current), [ORIGINAL]: { name: g.name, original: current } };
    tf.registerGradient(replacement); // replaces the entry (warns only under DEBUG)
  }
  for (const g of GRADIENT_ADDITIONS) {
    if (g.backendName === backendName && tf.getGradient(g.gradient.kernelName) === undefined) tf.registerGradient(g.gradient);
  }
  for (const p of ENGINE_PATCHES) if (p.backendName === backendName && !p.applied()) p.apply();
  return activeKernelOverrides(backendName);
}

/**
 * Restores the original kernels of every applied override (or only of those whose name `which`
 * accepts, e.g. to measure one override's effect); returns the names removed.
 */
export function removeKernelOverrides(which: (name: string) => boolean = () => true): string[] {
  const removed: string[] = [];
  for (const o of ALL_OVERRIDES) {
    const info = registered(o)?.[ORIGINAL];
    // Both matmul variants name the same kernel: handle what is registered once, under its own entry.
    if (info === undefined || info.name !== o.name || !which(info.name)) continue;
    tf.unregisterKernel(o.kernelName, o.backendName);
    tf.registerKernel(info.original);
    removed.push(info.name);
  }
  for (const a of ADDITIONS) {
    if (!which(a.name) || tf.getKernel(a.config.kernelName, a.config.backendName) === undefined) continue;
    tf.unregisterKernel(a.config.kernelName, a.config.backendName);
    // Its gradient goes with the last backend's kernel of that name.
    const stillRegistered = ADDITIONS.some((other) => other.config.kernelName === a.config.kernelName && tf.getKernel(other.config.kernelName, other.config.backendName) !== undefined);
    if (a.gradient !== undefined && tf.getGradient(a.gradient.kernelName) === a.gradient && !stillRegistered) tf.unregisterGradient(a.gradient.kernelName);
    removed.push(a.name);
  }
  for (const g of GRADIENTS) {
    const info = registeredGradient(g)?.[ORIGINAL];
    if (info === undefined || info.name !== g.name || !which(info.name)) continue;
    tf.registerGradient(info.original);
    removed.push(info.name);
  }
  for (const g of GRADIENT_ADDITIONS) {
    if (!which(g.name) || tf.getGradient(g.gradient.kernelName) !== g.gradient) continue;
    tf.unregisterGradient(g.gradient.kernelName);
    removed.push(g.name);
  }
  for (const p of ENGINE_PATCHES) {
    if (!which(p.name) || !p.applied()) continue;
    p.remove();
    removed.push(p.name);
  }
  return removed;
}
