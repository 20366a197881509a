import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/engine/backend.ts";
import { loadedBlas } from "../../src/engine/blas.ts";
import { activeKernelOverrides, applyKernelOverrides, removeKernelOverrides } from "../../src/engine/kernels/registry.ts";
import { ParamInit } from "../../src/layers/params.ts";
import { DinModel } from "../../src/models/baselines/din.ts";
import { MlpModel } from "../../src/models/baselines/mlp.ts";
import { StarModel } from "../../src/models/baselines/star.ts";
import { disposeBatchTensors } from "../../src/models/inputs.ts";
import { buildMem } from "../../src/models/mkt/index.ts";
import type { CtrModel } from "../../src/models/model.ts";
import { experimentSpecSchema } from "../../src/spec/experiment.ts";
import { randomTensors, SMALL_SIZES, testSchema } from "./helpers.ts";

/**
 * Dense with its bias fused into the matmul (one _FusedMatMul kernel and mkt's per-input gradient
 * for it, grad:_FusedMatMul/per-input) against Dense as matMul + add (that gradient removed), on
 * real models on the wasm backend with the other overrides applied: every variable gets the same
 * gradient — the same bits with OpenBLAS (the fused kernel adds the bias after the product, as Add
 * does), within rounding otherwise (XNNPACK adds it inside) — and the same variables get none.
 */
const schema = testSchema();
const spec = experimentSpecSchema.parse({ name: "fused", dataset: "unused.yaml", sizes: SMALL_SIZES });
const FUSED = "grad:_FusedMatMul/per-input";

const models: Record<string, () => CtrModel> = {
  mlp: () => new MlpModel("mlp", new ParamInit(1), { schema, sizes: SMALL_SIZES }),
  star: () => new StarModel("star", new ParamInit(4), { schema, sizes: SMALL_SIZES }),
  din: () => new DinModel("din", new ParamInit(2), { schema, sizes: SMALL_SIZES }),
  mem: () => buildMem({ schema, spec, seed: 3 }),
};

beforeAll(async () => {
  await selectBackend("wasm");
});

afterAll(() => {
  applyKernelOverrides("wasm");
});

/** Every variable's gradient of the total loss, by logical name (undefined where none reaches it). */
function gradients(model: CtrModel): Map<string, Float32Array | undefined> {
  const batch = randomTensors(schema, { source: 7, target: 9 }, 5);
  const named = model.module.namedVariables();
  const { value, grads } = tf.variableGrads(() => model.loss(batch).total, [...named.values()]);
  const out = new Map([...named].map(([name, v]) => [name, grads[v.name]?.dataSync() as Float32Array | undefined]));
  tf.dispose([value, grads]);
  disposeBatchTensors(batch);
  return out;
}

describe("Dense's fused bias on real models", () => {
  for (const [name, build] of Object.entries(models)) {
    it(`${name}: the same gradients as matMul + add, to rounding; the fused kernel runs`, async () => {
      applyKernelOverrides("wasm");
      expect(activeKernelOverrides("wasm")).toContain(FUSED);
      const model = build();
      const tensors = tf.memory().numTensors;
      const profile = await tf.profile(() => void gradients(model));
      expect(profile.kernels.map((k) => k.name)).toContain("_FusedMatMul");
      const fused = gradients(model);
      expect(tf.memory().numTensors).toBe(tensors);
      removeKernelOverrides((n) => n === FUSED);
      const unfused = gradients(model);
      applyKernelOverrides("wasm");
      expect([...fused.keys()]).toEqual([...unfused.keys()]);
      let biases = 0;
      let sameBits = 0;
      for (const [variable, g] of fused) {
        const u = unfused.get(variable);
        expect(g === undefined, variable).toBe(u === undefined);
        if (g === undefined || u === undefined) continue;
        expect(g.length).toBe(u.length);
        const scale = u.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
        for (let i = 0; i < g.length; i++) expect(Math.abs(g[i]! - u[i]!), `${variable}[${i}]`).toBeLessThanOrEqual(1e-5 * (scale + 1e-3));
        sameBits += g.every((x, i) => Object.is(x, u[i])) ? 1 : 0;
        if (variable.endsWith("/bias") && scale > 0) biases++;
      }
      expect(biases).toBeGreaterThan(0); // bias gradients reach the biases through the fused kernel
      // With OpenBLAS the fused kernel adds the bias after the product as Add does, the bias
      // gradient sums the same rows in the same order, and ReLU's gradient is the same product:
      // every gradient is the same bits.
      if (loadedBlas() !== undefined) expect(sameBits).toBe([...fused.values()].filter((g) => g !== undefined).length);
      tf.dispose(model.module.variables());
    });
  }
});
