import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { buildMem, buildTem, mktVariant, type MktBuildOptions } from "../../src/models/mkt/index.ts";
import { experimentSpecSchema } from "../../src/spec/experiment.ts";
import { sameValues, SMALL_SIZES, snapshot, testSchema } from "./helpers.ts";

const spec = experimentSpecSchema.parse({ name: "t", dataset: "d.yaml", sizes: SMALL_SIZES });
const options = (extra: Partial<MktBuildOptions> = {}): MktBuildOptions => ({ schema: testSchema(), spec, seed: 3, ...extra });

beforeAll(async () => {
  await tf.setBackend("cpu");
});

describe("MKT factory", () => {
  it("maps each ablation to its switch", () => {
    expect(mktVariant(spec)).toEqual({ hfa: true, gamma: 0.1, finetune: true });
    expect(mktVariant(spec, "wo_pdl")).toEqual({ hfa: true, gamma: 0, finetune: true });
    expect(mktVariant(spec, "wo_hfa")).toEqual({ hfa: false, gamma: 0.1, finetune: true });
    expect(mktVariant(spec, "wo_tem_finetune")).toEqual({ hfa: true, gamma: 0.1, finetune: false });
  });

  it("builds MEM and TEM from the spec's sizes and γ, with the ablation applied", () => {
    const mem = buildMem(options());
    expect(mem.name).toBe("mem");
    expect(mem.gamma).toBe(0.1);
    expect(mem.namedVariables().get("mem/cke/level1/target_expert0/dense0/kernel")!.shape).toEqual([16, 8]);
    expect(buildMem(options({ ablation: "wo_pdl" })).gamma).toBe(0);
    expect([...buildMem(options({ ablation: "wo_hfa" })).namedVariables().keys()].some((n) => n.includes("importance"))).toBe(false);
    const tem = buildTem(options(), mem);
    expect(tem.name).toBe("tem");
    expect(tem.mem).toBe(mem);
    expect(() => buildTem(options({ ablation: "wo_tem_finetune" }), buildMem(options()))).toThrow(/no TEM/);
  });

  it("is deterministic per seed, and TEM's embeddings do not start equal to MEM's", () => {
    const a = snapshot(buildMem(options()).namedVariables());
    const b = snapshot(buildMem(options()).namedVariables());
    for (const [name, values] of a) expect(sameValues(values, b.get(name)), name).toBe(true);
    const c = snapshot(buildMem(options({ seed: 4 })).namedVariables());
    expect(sameValues(a.get("mem/features/emb/user__user_id/table")!, c.get("mem/features/emb/user__user_id/table"))).toBe(false);
    const mem = buildMem(options());
    const tem = buildTem(options(), mem).namedVariables();
    const memTable = mem.namedVariables().get("mem/features/emb/user__user_id/table")!.dataSync() as Float32Array;
    expect(sameValues(memTable, tem.get("tem/features/emb/user__user_id/table")!.dataSync() as Float32Array)).toBe(false);
  });
});
