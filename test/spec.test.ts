import { describe, expect, it } from "vitest";
import { datasetSpecSchema } from "../src/spec/dataset.ts";
import { experimentSpecFileSchema, experimentSpecSchema } from "../src/spec/experiment.ts";
import { loadSpec, parseSpecText } from "../src/spec/load.ts";
import { UserError } from "../src/util/errors.ts";

function specError(text: string, schema: typeof datasetSpecSchema | typeof experimentSpecSchema = experimentSpecSchema): string {
  try {
    parseSpecText("exp.yaml", text, schema);
  } catch (error) {
    expect(error).toBeInstanceOf(UserError);
    expect((error as UserError).exitCode).toBe(2);
    const message = (error as UserError).message;
    expect(message).not.toContain("\n");
    return message;
  }
  throw new Error("expected the spec to be rejected");
}

describe("spec validation: one line naming file, line, field and what was expected", () => {
  it("fills every default", () => {
    const spec = parseSpecText("exp.yaml", "name: x\ndataset: d.yaml\n", experimentSpecSchema);
    expect(spec.training).toEqual({ batch_size: 1024, learning_rate: 0.001, max_epochs: 10, patience: 2, shuffle_buffer: 65536, eval_batch_size: 8192 });
    expect(spec.sizes.mlp).toEqual([1024, 512]);
    expect(spec.sizes.embedding_dim).toBe(8);
    expect((spec as Record<string, unknown>)["gamma"]).toBe(0.1);
    expect(spec.models).toHaveLength(11);
    expect(spec.reference_model).toBe("fibinet");
  });

  it("malformed YAML", () => {
    expect(specError("name: x\ndataset: [unclosed\n")).toMatch(/^exp\.yaml:\d+: not valid YAML/);
  });

  it("an unknown field, with its line", () => {
    expect(specError("name: x\ndataset: d.yaml\ntraining:\n  batch_sise: 10\n")).toBe(
      "exp.yaml:4: training.batch_sise: unknown field (check its spelling; see docs/specs.md for the fields this spec takes)",
    );
  });

  it("a wrong type", () => {
    expect(specError("name: x\ndataset: d.yaml\ntraining:\n  max_epochs: many\n")).toBe("exp.yaml:4: training.max_epochs: expected number, received string");
  });

  it("YAML's infinity or NaN where a number goes", () => {
    expect(specError("name: x\ndataset: d.yaml\ntraining:\n  learning_rate: .inf\n")).toBe("exp.yaml:4: training.learning_rate: expected a finite number");
    expect(specError("name: x\ndataset: d.yaml\nseeds: [1, .nan]\n")).toBe("exp.yaml:3: seeds.1: expected a finite number");
  });

  it("a fractional integer and a number out of range", () => {
    expect(specError("name: x\ndataset: d.yaml\nseeds: [1.5]\n")).toBe("exp.yaml:3: seeds.0: expected an integer");
    expect(specError("name: x\ndataset: d.yaml\ntraining:\n  max_epochs: 0\n")).toBe("exp.yaml:4: training.max_epochs: Too small: expected number to be >=1");
  });

  it("a missing field", () => {
    expect(specError("name: x\n")).toMatch(/^exp\.yaml:1: dataset: expected string, received undefined$/);
  });

  it("an unknown model name", () => {
    expect(specError("name: x\ndataset: d.yaml\nmodels: [mkt, dnn]\n")).toMatch(/^exp\.yaml:3: models\.1: Invalid option: expected one of "mkt"\|"mlp"/);
  });

  it("a dataset spec's label rule", () => {
    const text = "name: d\ntables: {}\nentities:\n  source: { name: a, table: a, label: { column: r, rule: 'at least 4' } }\n  target: { name: b, table: b }\n";
    expect(specError(text, datasetSpecSchema)).toMatch(/^exp\.yaml:4: entities\.source\.label\.rule: expected a comparison such as ">= 4"$/);
  });

  it("a missing spec file", async () => {
    await expect(loadSpec("does/not/exist.yaml", experimentSpecSchema)).rejects.toThrow("does/not/exist.yaml: does not exist");
  });

  it("every shipped spec is valid", async () => {
    for (const file of ["datasets/synthetic-tiny.yaml", "datasets/synthetic-small.yaml", "datasets/synthetic-paper.yaml", "datasets/douban-book-music.yaml"]) {
      await expect(loadSpec(file, datasetSpecSchema)).resolves.toBeDefined();
    }
    for (const file of ["quickstart", "tiny", "small", "douban", "paper-synthetic", "paper-gpu"]) await expect(loadSpec(`experiments/${file}.yaml`, experimentSpecFileSchema)).resolves.toBeDefined();
  });
});
