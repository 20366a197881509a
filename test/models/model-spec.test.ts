import { describe, expect, it } from "vitest";
import { ctnetRecipe } from "../../src/models/baselines/ctnet.ts";
import { fibinetRecipe } from "../../src/models/baselines/fibinet.ts";
import { mmoeRecipe } from "../../src/models/baselines/mmoe.ts";
import { sectionsOf } from "../../src/models/definition.ts";
import { mktSections } from "../../src/models/mkt/sections.ts";
import { experimentSpecSchema } from "../../src/spec/experiment.ts";
import { parseSpecText } from "../../src/spec/load.ts";
import { UserError } from "../../src/util/errors.ts";

const parse = (text: string) => parseSpecText("exp.yaml", `name: x\ndataset: d.yaml\n${text}`, experimentSpecSchema);
/** Every model's own section of a parsed spec. */
const sections = (text: string) => {
  const spec = parse(text);
  return { ...sectionsOf(mktSections, spec), ...sectionsOf(ctnetRecipe.sections!, spec), ...sectionsOf(mmoeRecipe.sections!, spec), ...sectionsOf(fibinetRecipe.sections!, spec) };
};

function rejection(text: string): string {
  try {
    parse(text);
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    return (error as UserError).message;
  }
  throw new Error("expected the spec to be rejected");
}

describe("per-model spec sections", () => {
  it("default to the papers: MEM's eq. 13 row weighting, TEM's common knowledge, CTNet continual where the data has time", () => {
    expect(sections("")).toEqual({
      gamma: 0.1,
      mem: { loss_weighting: "rows", hfa_cross_layers: 2 },
      tem: { knowledge: "common" },
      ctnet: { continual: "auto" },
      mmoe: { experts: 3 },
      fibinet: { senet_reduction: 3 },
    });
  });

  it("take the options", () => {
    const spec = sections("mem: { loss_weighting: entities }\ntem: { knowledge: common+target }\nctnet: { continual: false }\nmmoe: { experts: 5 }\n");
    expect(spec.mem.loss_weighting).toBe("entities");
    expect(spec.tem.knowledge).toBe("common+target");
    expect(spec.ctnet.continual).toBe(false);
    expect(spec.mmoe.experts).toBe(5);
  });

  it("read the older spellings of the fields that moved out of sizes; refuse both spellings at once", () => {
    const spec = sections("sizes: { mmoe_experts: 4, senet_reduction: 2, hfa_cross_layers: 3, mlp: [8] }\n");
    expect([spec.mmoe.experts, spec.fibinet.senet_reduction, spec.mem.hfa_cross_layers]).toEqual([4, 2, 3]);
    expect(parse("sizes: { mmoe_experts: 4, mlp: [8] }\n").sizes).toEqual(parse("sizes: { mlp: [8] }\n").sizes);
    expect(rejection("sizes: { mmoe_experts: 4 }\nmmoe: { experts: 2 }\n")).toBe("exp.yaml:3: sizes.mmoe_experts: also given as mmoe.experts, its name now: keep only that one");
  });

  it("reject an unknown value or field with one line naming it; the old top-level continual is gone", () => {
    expect(rejection("mem:\n  loss_weighting: samples\n")).toMatch(/^exp\.yaml:4: mem\.loss_weighting: .*"rows"\|"entities"/);
    expect(rejection("tem: { knowledge: target }\n")).toMatch(/^exp\.yaml:3: tem\.knowledge: /);
    expect(rejection("ctnet: { continual: sometimes }\n")).toMatch(/^exp\.yaml:3: ctnet\.continual: /);
    expect(rejection("continual: true\n")).toMatch(/^exp\.yaml:3: continual: unknown field/);
    expect(rejection("mmoe: { expert: 2 }\n")).toMatch(/^exp\.yaml:3: mmoe\.expert: unknown field/);
    expect(rejection("fibinet: { senet_reduction: 0 }\n")).toMatch(/^exp\.yaml:3: fibinet\.senet_reduction: /);
  });
});
