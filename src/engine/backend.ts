/**
 * TensorFlow.js backend selection: gpu (tfjs-node-gpu) → node (tfjs-node) → wasm → cpu.
 *
 * A backend counts as available only if it really works here: its package loads, tf.setBackend
 * succeeds, and a 2×2 matmul returns the right numbers. The native packages are optional
 * dependencies (their install step downloads libtensorflow), so they are imported through a
 * variable specifier: tsc does not need their types and a missing package is a normal outcome.
 */
import { tf } from "./tf.ts";
import { createRequire } from "node:module";
import path from "node:path";
import { oneLine, UserError } from "../util/errors.ts";
import { loadBlas, type BlasState } from "./blas.ts";

export type BackendChoice = "auto" | "gpu" | "node" | "wasm" | "cpu";
export type BackendName = Exclude<BackendChoice, "auto">;

export interface BackendInfo {
  /** The backend actually in use. */
  name: BackendName;
  /** tf.getBackend(): "tensorflow" for both gpu and node. */
  tfjsBackend: string;
  versions: Record<string, string>;
  /** Why each faster backend was not used (auto only; empty for an explicit choice). */
  unavailable: { backend: string; reason: string }[];
  /** Names of the active kernel overrides. */
  kernelOverrides: string[];
  /** Training replicas (worker threads in data-parallel steps), set by the CLI from --workers; 1 when absent. */
  replicas?: number;
  /** OpenBLAS for the wasm matmul kernels: the library and its threads, or why it is not used. */
  blas?: string;
}

export interface BackendAvailability {
  name: BackendName;
  available: boolean;
  tfjsBackend?: string;
  /** Overrides selectBackend would apply there. */
  kernelOverrides?: string[];
  reason?: string;
}

export interface BackendsDescription {
  /** What selectBackend("auto") would pick. */
  auto: BackendName;
  /** The tfjs backend active when describeBackends returned (restored after probing). */
  current: string | null;
  backends: BackendAvailability[];
}

const AUTO_ORDER: readonly BackendName[] = ["gpu", "node", "wasm", "cpu"];
const GPU_PACKAGE = "@tensorflow/tfjs-node-gpu";
const NODE_PACKAGE = "@tensorflow/tfjs-node";
const TF_NAME: Record<BackendName, string> = { gpu: "tensorflow", node: "tensorflow", wasm: "wasm", cpu: "cpu" };

const require = createRequire(import.meta.url);

/** Both native packages register their backend as "tensorflow"; only the first import wins. */
let tensorflowPackage: string | undefined;
const loadedVersions: Record<string, string> = {};
let wasmPathsSet = false;

type Probe = { ok: true } | { ok: false; reason: string };
const fail = (reason: string): Probe => ({ ok: false, reason });

const reasonOf = (err: unknown): string => oneLine(err instanceof Error ? err.message : String(err), 300);

/** Loads a native package once; returns a failure reason or undefined. */
async function loadNative(pkg: string): Promise<string | undefined> {
  try {
    require.resolve(pkg);
  } catch {
    return `package ${pkg} is not installed (optional dependency; its install step downloads libtensorflow)`;
  }
  if (tensorflowPackage !== undefined) {
    if (tensorflowPackage === pkg || pkg === NODE_PACKAGE) return undefined; // the gpu package also runs on CPU
    return `${tensorflowPackage} was loaded first in this process and owns the 'tensorflow' backend`;
  }
  try {
    // Resolves to the same @tensorflow/tfjs (hence tfjs-core engine) as ours; registers and sets "tensorflow".
    type NodeModule = { version?: Record<string, string> };
    const mod = (await import(pkg)) as NodeModule & { default?: NodeModule };
    tensorflowPackage = pkg;
    const version = (mod.version ?? mod.default?.version)?.["tfjs-node"];
    if (version !== undefined) loadedVersions[pkg.replace("@tensorflow/", "")] = version;
    return undefined;
  } catch (err) {
    return `package ${pkg} is installed but failed to load: ${reasonOf(err)}`;
  }
}

/** Registers the wasm backend and points it at the installed .wasm binaries. */
async function loadWasm(): Promise<void> {
  // require, not import: the ESM loader would scan the CommonJS bundle for export names (see tf.ts).
  const wasm = require("@tensorflow/tfjs-backend-wasm") as typeof import("@tensorflow/tfjs-backend-wasm");
  loadedVersions["tfjs-backend-wasm"] = wasm.version_wasm;
  if (!wasmPathsSet) {
    // Under Node emscripten reads the binary with fs from prefix + file name: a plain directory
    // path with a trailing separator (without it the names are glued on: ".../disttfjs-...wasm").
    wasm.setWasmPaths(path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm")) + path.sep);
    wasmPathsSet = true;
  }
}

/** tf.setBackend + tf.ready + a checked 2×2 matmul; tfjs's init warnings become the reason. */
async function activate(tfName: string): Promise<Probe> {
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => void warnings.push(args.map(String).join(" "));
  let ok: boolean;
  try {
    ok = await tf.setBackend(tfName);
    if (ok) await tf.ready();
  } catch (err) {
    return fail(`tf.setBackend('${tfName}') threw: ${reasonOf(err)}`);
  } finally {
    console.warn = warn;
  }
  if (!ok) return fail(`tf.setBackend('${tfName}') failed${warnings[0] ? `: ${reasonOf(warnings[0])}` : ""}`);
  // The cpu backend greets Node users on its first write with a banner on stdout; mkt says which backend runs itself.
  if (tfName === "cpu") (tf.backend() as { firstUse?: boolean }).firstUse = false;
  try {
    const product = tf.tidy(() => tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[5, 6], [7, 8]])));
    const values = Array.from(await product.data());
    product.dispose();
    if (values.join(",") !== "19,22,43,50") return fail(`test matmul on '${tfName}' returned [${values.join(", ")}]`);
  } catch (err) {
    return fail(`test matmul on '${tfName}' threw: ${reasonOf(err)}`);
  }
  return { ok: true };
}

async function probe(name: BackendName): Promise<Probe> {
  if (name === "gpu" || name === "node") {
    const reason = await loadNative(name === "gpu" ? GPU_PACKAGE : NODE_PACKAGE);
    if (reason !== undefined) return fail(reason);
  } else if (name === "wasm") {
    try {
      await loadWasm();
    } catch (err) {
      return fail(`@tensorflow/tfjs-backend-wasm failed to load: ${reasonOf(err)}`);
    }
  }
  const result = await activate(TF_NAME[name]);
  if (result.ok && name === "gpu") {
    // tfjs-node-gpu silently runs on the CPU when CUDA finds no device; the binding knows.
    const usingGpu = (tf.backend() as { isUsingGpuDevice?: boolean }).isUsingGpuDevice;
    if (usingGpu !== true) return fail(`${GPU_PACKAGE} loaded but TensorFlow sees no GPU device (driver/CUDA/cuDNN?)`);
  }
  return result;
}

function versions(): Record<string, string> {
  return { tfjs: tf.version.tfjs, "tfjs-core": tf.version["tfjs-core"], ...loadedVersions, node: process.versions.node };
}

async function restore(previous: string | undefined): Promise<void> {
  if (previous !== undefined && previous !== tf.getBackend()) await tf.setBackend(previous);
}

/** Whether mkt's kernel overrides are wanted: the option (--no-kernel-overrides), and MKT_KERNEL_OVERRIDES=off (tests, CI). */
function overridesWanted(option: boolean | undefined): boolean {
  const setting = process.env["MKT_KERNEL_OVERRIDES"];
  if (setting !== undefined && setting !== "" && setting !== "on" && setting !== "off") throw new UserError(`MKT_KERNEL_OVERRIDES: expected 'on' or 'off', got '${setting.slice(0, 20)}'`);
  return option !== false && setting !== "off";
}

/**
 * Makes `choice` the active tfjs backend. "auto" falls back along gpu → node → wasm → cpu and
 * records why each faster one was skipped; an explicit choice that does not work throws a UserError.
 * Kernel overrides for the chosen backend are applied unless `kernelOverrides: false` or
 * MKT_KERNEL_OVERRIDES=off (then every override is removed: the plain tfjs kernels run).
 */
export async function selectBackend(
  choice: BackendChoice,
  options: { kernelOverrides?: boolean } = {},
): Promise<BackendInfo> {
  const overrides = overridesWanted(options.kernelOverrides);
  const previous = (tf.getBackend() as string | null) ?? undefined;
  const candidates = choice === "auto" ? AUTO_ORDER : [choice];
  const unavailable: { backend: string; reason: string }[] = [];
  for (const name of candidates) {
    const result = await probe(name);
    if (!result.ok) {
      if (choice !== "auto") {
        await restore(previous);
        throw new UserError(`backend '${name}' is not available: ${result.reason}`);
      }
      unavailable.push({ backend: name, reason: result.reason });
      continue;
    }
    const kernels = await kernelRegistry();
    if (!overrides) kernels.removeKernelOverrides();
    const blas = overrides ? await loadBlas() : undefined;
    const kernelOverrides = overrides ? kernels.applyKernelOverrides(TF_NAME[name]) : [];
    return { name, tfjsBackend: tf.getBackend(), versions: versions(), unavailable, kernelOverrides, ...(blas && TF_NAME[name] === "wasm" ? { blas: describeBlas(blas) } : {}) };
  }
  throw new UserError(`no TensorFlow.js backend works: ${unavailable.map((u) => `${u.backend}: ${u.reason}`).join("; ")}`);
}

function describeBlas(state: BlasState): string {
  return state.blas ? `${state.blas.library}, ${state.blas.threads()} thread(s)` : `not used: ${state.reason}`;
}

/** mkt's kernels, loaded when a backend is chosen: a command that stops at a spec error never reads them. */
function kernelRegistry() {
  return import("./kernels/registry.ts");
}

/**
 * Probes every backend for `mkt info` and restores the previously active one afterwards (when none
 * was active, the auto choice is left active, which is what tfjs itself would pick by priority).
 */
export async function describeBackends(): Promise<BackendsDescription> {
  const previous = (tf.getBackend() as string | null) ?? undefined;
  const backends: BackendAvailability[] = [];
  const { kernelOverridesFor } = await kernelRegistry();
  for (const name of AUTO_ORDER) {
    const result = await probe(name);
    const tfName = TF_NAME[name];
    backends.push(
      result.ok
        ? { name, available: true, tfjsBackend: tfName, kernelOverrides: kernelOverridesFor(tfName) }
        : { name, available: false, reason: result.reason },
    );
  }
  const auto = backends.find((b) => b.available)?.name ?? "cpu";
  await restore(previous ?? TF_NAME[auto]);
  return { auto, current: tf.getBackend() ?? null, backends };
}
