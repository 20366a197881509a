/**
 * The machine's OpenBLAS, called through koffi (an FFI whose npm package carries prebuilt
 * binaries; an optional dependency). Its sgemm is several times faster per core than the wasm
 * backend's 128-bit SIMD matmul and can use every core, which wasm under Node cannot
 * (docs/performance.md). The wasm matmul kernels call it when it loads (kernels/wasm-blas-matmul.ts);
 * without it they keep their own path.
 *
 * Found as `libopenblas.so.0` (Debian/Ubuntu: `apt install libopenblas0-pthread`), or the path in
 * MKT_BLAS; MKT_BLAS=off turns it off. Threads: up to OpenBLAS's default (OPENBLAS_NUM_THREADS or
 * all cores) on the main thread for large products, one otherwise and inside a data-parallel
 * replica worker (the replicas already use the cores).
 */
import { isMainThread } from "node:worker_threads";

export interface Blas {
  /** The library file that loaded. */
  library: string;
  /** The most threads a product may use. */
  threads(): number;
  /** Row-major C = alpha·op(A)·op(B) + beta·C (cblas_sgemm); the arrays are passed as pointers, not copied. */
  sgemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: Float32Array,
    lda: number,
    b: Float32Array,
    ldb: number,
    beta: number,
    c: Float32Array,
    ldc: number,
  ): void;
}

export type BlasState = { blas: Blas } | { blas?: undefined; reason: string };

const CANDIDATES = ["libopenblas.so.0", "libopenblas.so", "libopenblas.0.dylib", "libopenblas.dylib"];
const ROW_MAJOR = 101;
const NO_TRANS = 111;
const TRANS = 112;
/** Multiply-adds from which a product uses every OpenBLAS thread (below: one). */
const THREADED_WORK = 64 * 2 ** 20;

let state: BlasState | undefined;
/** Set while data-parallel replicas run: every product on one thread, in every thread. */
let replicaMode = false;
/** Sets OpenBLAS's (process-wide) thread count, once the library has loaded. */
let useThreads: ((n: number) => void) | undefined;

/**
 * Main thread only: while replicas compute at the same time (worker threads of this process), every
 * product runs on its caller's thread: OpenBLAS's threads beside a busy worker oversubscribe the
 * cores (2 replicas then trained slower than one; docs/performance.md).
 */
export function setBlasReplicaMode(on: boolean): void {
  if (!isMainThread) throw new Error("setBlasReplicaMode: main thread only");
  replicaMode = on;
  if (on) useThreads?.(1);
}

/** Loads OpenBLAS once; later calls return the same state (the library, or why it is unavailable). */
export async function loadBlas(): Promise<BlasState> {
  state ??= await tryLoad();
  return state;
}

/** The loaded library, if loadBlas() found one. */
export function loadedBlas(): Blas | undefined {
  return state?.blas;
}

async function tryLoad(): Promise<BlasState> {
  const setting = process.env["MKT_BLAS"];
  if (setting === "off") return { reason: "turned off by MKT_BLAS=off" };
  let koffi: typeof import("koffi");
  try {
    koffi = (await import("koffi")).default;
  } catch {
    return { reason: "package koffi (optional dependency) is not installed" };
  }
  const tried: string[] = [];
  for (const library of setting ? [setting] : CANDIDATES) {
    let lib: ReturnType<typeof koffi.load>;
    try {
      lib = koffi.load(library);
    } catch {
      tried.push(library);
      continue;
    }
    const sgemm = lib.func(
      "void cblas_sgemm(int order, int transA, int transB, int m, int n, int k, float alpha, float *a, int lda, float *b, int ldb, float beta, float *c, int ldc)",
    );
    const getThreads = lib.func("int openblas_get_num_threads()");
    const setThreads = lib.func("void openblas_set_num_threads(int n)");
    // Its threads for large products only: a product runs between other kernels, so its threads
    // have gone to sleep and waking them costs more than it saves on small ones (docs/performance.md).
    // The thread count is one setting for the whole process, worker threads included: only the main
    // thread changes it, and while replicas run (see setBlasReplicaMode) it stays at one, so that
    // no two callers share OpenBLAS's thread pool (they would wait for each other on its lock).
    const defaultThreads = getThreads() as number;
    let current = defaultThreads;
    const setCount = (n: number) => {
      if (n !== current) setThreads(n);
      current = n;
    };
    if (isMainThread) useThreads = setCount;
    const blas: Blas = {
      library,
      threads: () => (isMainThread && !replicaMode ? defaultThreads : 1),
      sgemm: (transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc) => {
        if (isMainThread) setCount(!replicaMode && m * n * k >= THREADED_WORK ? defaultThreads : 1);
        sgemm(ROW_MAJOR, transA ? TRANS : NO_TRANS, transB ? TRANS : NO_TRANS, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
      },
    };
    return { blas };
  }
  return { reason: `OpenBLAS not found (tried ${tried.join(", ")}; on Debian/Ubuntu: apt install libopenblas0-pthread, or set MKT_BLAS to its path)` };
}
