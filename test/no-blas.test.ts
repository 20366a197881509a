import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { loadBlas } from "../src/engine/blas.ts";

// Where OpenBLAS loads, the suite runs the models on it; machines without it use wasm's own
// matmuls (XNNPACK), whose behaviour differs (e.g. it caches weights packed per tensor, which once
// made an in-place Adam update stop training there). A few learning tests run again in a process
// with MKT_BLAS=off so that `npm test` covers that path too. Without OpenBLAS the suite already
// runs everything on it.
const state = await loadBlas();

describe.skipIf(!state.blas)(`without OpenBLAS${state.blas ? "" : ` (skipped: the suite runs without it already: ${state.reason})`}`, () => {
  it("models learn and Adam's updates reach wasm's own matmuls (a vitest run with MKT_BLAS=off)", () => {
    const files = ["test/models/baselines/din.test.ts", "test/models/baselines/mmoe.test.ts", "test/kernels-adam.test.ts"];
    const run = spawnSync(process.execPath, ["node_modules/vitest/vitest.mjs", "run", ...files], {
      env: { ...process.env, MKT_BLAS: "off", NO_COLOR: "1", FORCE_COLOR: "0" },
      encoding: "utf8",
      timeout: 900_000,
    });
    const output = `${run.stdout}\n${run.stderr}`;
    expect(output, output.slice(-3000)).toMatch(/Test Files\s+3 passed \(3\)/);
    expect(run.status, output.slice(-3000)).toBe(0);
  }, 1_000_000);
});
