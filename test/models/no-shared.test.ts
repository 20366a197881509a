import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { PreparedDataset } from "../../src/data/reader.ts";
import { selectBackend, type BackendInfo } from "../../src/engine/backend.ts";
import { loadFinishedModel, runRecipes } from "../../src/export/finished.ts";
import { referenceRecipes } from "../../src/models/baselines/references.ts";
import { loadExperiment, type LoadedExperiment } from "../../src/run/experiment.ts";
import { modelDir, runModel } from "../../src/run/model-run.ts";
import { tempDir } from "../helpers/prepared.ts";

const E = 4;

/**
 * synthetic-tiny, smaller, with its two shared fields made entity-specific (category a source
 * field, creator_id a target field): no shared feature at all.
 */
async function noSharedDataset(): Promise<string> {
  const tiny = parse(await readFile("datasets/synthetic-tiny.yaml", "utf8"));
  const { source, target } = tiny.entities;
  return stringify({
    ...tiny,
    name: "no-shared",
    generator: { ...tiny.generator, seed: 3, users: 200, source_items: 300, target_items: 100, impressions: 16000, target_ctr: 0.15, source_ctr: 0.15 },
    entities: { source: { ...source, specific: [...source.specific, { name: "category" }] }, target: { ...target, specific: [...target.specific, { name: "creator_id" }] } },
    shared: [],
    sequence_maxlen: 8,
  });
}

/** Every model of Table 2 and every ablation (the spec's defaults), one short epoch each. */
const EXPERIMENT = `name: no-shared
dataset: data.yaml
seeds: [1]
reference_model: mlp
training: { batch_size: 512, learning_rate: 0.005, max_epochs: 1, shuffle_buffer: 4096 }
sizes: { embedding_dim: ${E}, mlp: [16, 8], tower: [8], attention: [8], hfa_dim: 8, cke_levels: [16, 8] }
`;

/**
 * A dataset spec with `shared: []` (which the docs allow): v_shared is absent, and each model keys
 * its sequence attention on what remains or mean-pools (docs/models.md, "Without shared features").
 */
describe("every model without shared features, through the run layer", () => {
  let dir: string;
  let experiment: LoadedExperiment;
  let dataset: PreparedDataset;
  let backend: BackendInfo;
  beforeAll(async () => {
    dir = await tempDir("mkt-no-shared-");
    await writeFile(join(dir, "data.yaml"), await noSharedDataset());
    await writeFile(join(dir, "exp.yaml"), EXPERIMENT);
    experiment = await loadExperiment(join(dir, "exp.yaml"), join(dir, "out"));
    dataset = await PreparedDataset.open(experiment.prepared.dir);
    backend = await selectBackend("wasm");
  });
  afterAll(async () => {
    dataset?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("prepares a schema with no shared feature, sequences of item ids only", () => {
    expect(dataset.schema.features.filter((f) => f.group === "shared")).toEqual([]);
    expect(dataset.schema.sequences.map((s) => Object.keys(s.elements))).toEqual([["item_id"], ["item_id"]]);
  });

  it("trains, evaluates and scores every test row with each of the eleven models and the three ablations", async () => {
    const recipes = runRecipes(experiment);
    expect(recipes.map((r) => r.name)).toEqual([
      "mkt", "mlp", "din", "fibinet", "mmoe", "ple", "star", "conet", "minet", "finetune", "ctnet",
      "mkt-wo_tem_finetune", "mkt-wo_pdl", "mkt-wo_hfa",
    ]); // prettier-ignore
    const tensorsBefore = tf.memory().numTensors;
    for (const recipe of [...referenceRecipes(dataset.schema), ...recipes]) {
      const result = await runModel(recipe, experiment, dataset, 1, backend, { progress: false });
      expect(result!.metrics.samples, recipe.name).toBe(dataset.stats.splits["target/test"]!.rows);
      expect(Number.isFinite(result!.metrics.auc) && Number.isFinite(result!.metrics.logloss), recipe.name).toBe(true);
      const scores = (await readFile(join(modelDir(experiment.runDir, recipe.name, 1), "predictions.csv"), "utf8")).trim().split("\n").slice(1);
      expect(scores.every((line) => { const p = Number(line.split(",")[2]); return p >= 0 && p <= 1; }), recipe.name).toBe(true); // prettier-ignore
    }
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it("builds each model without the parts that need a shared feature: attention keyed on what remains, or mean pooling", async () => {
    const names = async (model: string): Promise<string[]> => {
      const recipe = runRecipes(experiment).find((r) => r.name === model)!;
      const loaded = await loadFinishedModel(experiment, dataset, recipe, 1, "run the previous test first");
      const variables = [...loaded.module.namedVariables()].map(([name, v]) => `${name} ${v.shape.join("x")}`);
      loaded.module.dispose();
      return variables;
    };
    const userFields = dataset.schema.features.filter((f) => f.group === "user").length;
    // MKT: both front ends mean-pool (no attention unit), TEM has no GLU for v_shared.
    const mkt = await names("mkt");
    expect(mkt.filter((n) => n.includes("attention") || n.includes("glu_shared") || n.includes("shared__"))).toEqual([]);
    expect(mkt.some((n) => n.startsWith("tem/glu_user/"))).toBe(true);
    // DIN: seq_target keyed on the candidate's item id (query and keys E wide: the unit's first layer reads 4·E), seq_source mean-pooled.
    const din = await names("din");
    expect(din).toContain(`din/seq_target_attention/mlp/dense0/kernel ${4 * E}x8`);
    expect(din.some((n) => n.startsWith("din/seq_source_attention/"))).toBe(false);
    // MiNet: item-level attention on the element and the user only (no candidate product block).
    const minet = await names("minet");
    expect(minet.some((n) => n.includes("/product/"))).toBe(false);
    expect(minet).toContain(`minet/seq_target_item_attention/context/kernel ${userFields * E}x8`);
    // STAR: the auxiliary network reads the indicator and v_u.
    expect(await names("star")).toContain(`star/auxiliary/hidden/dense0/kernel ${E + userFields * E}x8`);
  });
});
