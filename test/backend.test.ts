import * as tf from "@tensorflow/tfjs";
import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { loadedBlas } from "../src/engine/blas.ts";
import { describeBackends, selectBackend } from "../src/engine/backend.ts";
import { activeKernelOverrides, kernelOverridesFor } from "../src/engine/kernels/registry.ts";
import { UserError } from "../src/util/errors.ts";

// The "here" expectations hold where the optional native packages are absent (this repo's CI box);
// elsewhere those cases are skipped rather than failing.
function installed(pkg: string): boolean {
  try {
    createRequire(import.meta.url).resolve(pkg);
    return true;
  } catch {
    return false;
  }
}
const nativeAbsent = !installed("@tensorflow/tfjs-node") && !installed("@tensorflow/tfjs-node-gpu");

describe("selectBackend", () => {
  it("cpu works and reports its name", async () => {
    const info = await selectBackend("cpu");
    expect(info.name).toBe("cpu");
    expect(info.tfjsBackend).toBe("cpu");
    expect(tf.getBackend()).toBe("cpu");
    expect(info.unavailable).toEqual([]);
    expect(info.kernelOverrides).toEqual(kernelOverridesFor("cpu")); // the fused Adam kernel only
    expect(info.kernelOverrides).toEqual(["cpu:MktAdam/fused"]);
    expect(info.versions["tfjs"]).toBe("4.22.0");
    expect(info.versions["node"]).toBe(process.versions.node);
  });

  it("wasm works, reports its name and version, and applies the matmul overrides", async () => {
    const info = await selectBackend("wasm");
    expect(info.name).toBe("wasm");
    expect(info.tfjsBackend).toBe("wasm");
    expect(tf.getBackend()).toBe("wasm");
    expect(info.versions["tfjs-backend-wasm"]).toBe("4.22.0");
    // The matmuls run on OpenBLAS where it loads (here: libopenblas0-pthread), else with explicit transposes.
    const blas = loadedBlas();
    const matmul = blas ? ["wasm:BatchMatMul/openblas+small-simd", "wasm:_FusedMatMul/openblas"] : ["wasm:BatchMatMul/explicit-transpose+small-simd", "wasm:_FusedMatMul/explicit-transpose+batched-fix"];
    expect(info.kernelOverrides).toEqual(expect.arrayContaining(matmul));
    expect(info.blas).toMatch(blas ? new RegExp(`^${blas.library}, \\d+ thread`) : /^not used: /);
    expect(activeKernelOverrides("wasm")).toEqual(info.kernelOverrides);
  });

  it("kernelOverrides: false leaves the original kernels in place", async () => {
    const info = await selectBackend("wasm", { kernelOverrides: false });
    expect(info.kernelOverrides).toEqual([]);
    expect(activeKernelOverrides("wasm")).toEqual([]);
    const again = await selectBackend("wasm");
    expect(again.kernelOverrides).toEqual(kernelOverridesFor("wasm"));
  });

  it("MKT_KERNEL_OVERRIDES=off removes them as --no-kernel-overrides does; another value is a one-line UserError", async () => {
    const saved = process.env["MKT_KERNEL_OVERRIDES"];
    try {
      process.env["MKT_KERNEL_OVERRIDES"] = "off";
      const info = await selectBackend("wasm");
      expect(info.kernelOverrides).toEqual([]);
      expect(info.blas).toBeUndefined();
      expect(activeKernelOverrides("wasm")).toEqual([]);
      process.env["MKT_KERNEL_OVERRIDES"] = "no";
      await expect(selectBackend("wasm")).rejects.toThrow(/^MKT_KERNEL_OVERRIDES: expected 'on' or 'off', got 'no'$/);
    } finally {
      if (saved === undefined) delete process.env["MKT_KERNEL_OVERRIDES"];
      else process.env["MKT_KERNEL_OVERRIDES"] = saved;
    }
    expect((await selectBackend("wasm")).kernelOverrides).toEqual(kernelOverridesFor("wasm"));
  });

  it.skipIf(!nativeAbsent)("auto ends on wasm here and says why gpu and node were skipped", async () => {
    const info = await selectBackend("auto");
    expect(info.name).toBe("wasm");
    expect(info.tfjsBackend).toBe("wasm");
    expect(info.unavailable.map((u) => u.backend)).toEqual(["gpu", "node"]);
    expect(info.unavailable[0]?.reason).toMatch(/@tensorflow\/tfjs-node-gpu is not installed/);
    expect(info.unavailable[1]?.reason).toMatch(/@tensorflow\/tfjs-node is not installed \(optional dependency/);
  });

  it.skipIf(!nativeAbsent)("an explicit unavailable backend throws a one-line UserError and keeps the previous one", async () => {
    await selectBackend("cpu");
    const err = await selectBackend("node").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UserError);
    expect((err as UserError).exitCode).toBe(2);
    expect((err as UserError).message).toMatch(/^backend 'node' is not available: package @tensorflow\/tfjs-node is not installed/);
    expect((err as UserError).message).not.toContain("\n");
    expect(tf.getBackend()).toBe("cpu");
    await expect(selectBackend("gpu")).rejects.toThrow(/@tensorflow\/tfjs-node-gpu/);
  });
});

describe("describeBackends", () => {
  it.skipIf(!nativeAbsent)("reports availability with reasons and restores the current backend", async () => {
    await selectBackend("cpu");
    const d = await describeBackends();
    expect(d.auto).toBe("wasm");
    expect(d.current).toBe("cpu");
    expect(tf.getBackend()).toBe("cpu");
    const by = Object.fromEntries(d.backends.map((b) => [b.name, b]));
    expect(by["gpu"]?.available).toBe(false);
    expect(by["gpu"]?.reason).toMatch(/not installed/);
    expect(by["node"]?.available).toBe(false);
    expect(by["wasm"]).toMatchObject({ available: true, tfjsBackend: "wasm" });
    expect(by["cpu"]).toMatchObject({ available: true, tfjsBackend: "cpu" });
    // The current backend still computes.
    expect(Array.from(await tf.add(tf.scalar(1), tf.scalar(2)).data())).toEqual([3]);
  });
});
