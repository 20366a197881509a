import { describe, expect, it } from "vitest";
import { experimentSpecSchema } from "../../src/spec/experiment.ts";
import { parseSpecText } from "../../src/spec/load.ts";
import { UserError } from "../../src/util/errors.ts";

const parse = (text: string) => parseSpecText("exp.yaml", `name: x\ndataset: d.yaml\n${text}`, experimentSpecSchema);

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
    const spec = parse("");
    expect(spec.mem).toEqual({ loss_weighting: "rows" });
    expect(spec.tem).toEqual({ knowledge: "common" });
    expect(spec.ctnet).toEqual({ continual: "auto" });
  });

  it("take the options", () => {
    const spec = parse("mem: { loss_weighting: entities }\ntem: { knowledge: common+target }\nctnet: { continual: false }\n");
    expect(spec.mem.loss_weighting).toBe("entities");
    expect(spec.tem.knowledge).toBe("common+target");
    expect(spec.ctnet.continual).toBe(false);
  });

  it("reject an unknown value or field with one line naming it; the old top-level continual is gone", () => {
    expect(rejection("mem:\n  loss_weighting: samples\n")).toMatch(/^exp\.yaml:4: mem\.loss_weighting: .*"rows"\|"entities"/);
    expect(rejection("tem: { knowledge: target }\n")).toMatch(/^exp\.yaml:3: tem\.knowledge: /);
    expect(rejection("ctnet: { continual: sometimes }\n")).toMatch(/^exp\.yaml:3: ctnet\.continual: /);
    expect(rejection("continual: true\n")).toMatch(/^exp\.yaml:3: continual: unknown field/);
  });
});
