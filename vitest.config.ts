import { configDefaults, defineConfig } from "vitest/config";

/**
 * The slow tier (`npm run test:slow`, which CI runs as well): end-to-end tests that start `mkt`
 * processes, kill and resume them, export and serve every model, bundle the CLI and train with it,
 * run part of the suite again without OpenBLAS, train the mechanism wins (test/mechanisms.test.ts), or check
 * every model against its PyTorch twin (test/benchmarks/twins.test.ts: a Python process per stage). `npm test` runs every other file, in minutes on two cores.
 */
export const SLOW_TESTS = [
  "test/kill.test.ts",
  "test/resume.test.ts",
  "test/corruption.test.ts",
  "test/export/serving.test.ts",
  "test/no-blas.test.ts",
  "test/dist.test.ts",
  "test/mechanisms.test.ts",
  "test/benchmarks/twins.test.ts",
];

/**
 * Timeouts hold on a machine twice as slow as a quiet 2-core one that also runs other work: they
 * catch a hang, never a slow run (no test asserts on speed; learning tests run fixed epochs and
 * assert on quality). The slow tier's tests run whole `mkt` processes: 20 minutes each.
 */
export function testConfig(include: string[], exclude: string[], timeout = 300_000) {
  return defineConfig({
    test: {
      include,
      exclude: [...configDefaults.exclude, ...exclude],
      setupFiles: ["test/setup.ts"],
      testTimeout: timeout,
      hookTimeout: timeout,
      pool: "forks",
      fileParallelism: true,
      maxWorkers: 2,
    },
  });
}

export default testConfig(["test/**/*.test.ts"], SLOW_TESTS);
