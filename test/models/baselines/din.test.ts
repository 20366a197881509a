import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { ParamInit } from "../../../src/layers/params.ts";
import { DinModel, dinRecipe } from "../../../src/models/baselines/din.ts";
import type { Batch } from "../../../src/data/batch.ts";
import { batchToTensors, disposeBatchTensors, type BatchTensors } from "../../../src/models/inputs.ts";
import { MAXLEN, randomBatch, randomTensors, SMALL_SIZES, testSchema } from "../helpers.ts";
import { withOtherIds } from "./batches.ts";
import { describeLearning, expectProbabilities, testSpec } from "./stage-context.ts";

const schema = testSchema();
const build = (): DinModel => new DinModel("din", new ParamInit(1), { schema, sizes: SMALL_SIZES });

describe("DinModel", () => {
  beforeAll(async () => {
    await tf.setBackend("cpu");
  });

  it("predicts a probability per row, every row read as a target row; trains on target rows", () => {
    expectProbabilities(build(), randomTensors(schema, { source: 3, target: 6 }), ["target"], ["bce_target"]);
  });

  it("weights each sequence element by its relevance to the candidate: other candidates, other weights", () => {
    const model = build();
    const base = randomBatch(schema, { source: 0, target: 8 }, 4);
    // Same users and behaviour sequences, other candidate items (shared features).
    const candidates = withOtherIds(base, schema, schema.features.filter((f) => f.group === "shared").map((f) => f.column));
    const weights = (tensors: BatchTensors) =>
      tf.tidy(() => {
        const { weights } = model.attention(tensors, model.frontEnd.shared(tensors), "all", "predict");
        return Object.fromEntries(Object.entries(weights).map(([seq, w]) => [seq, w.arraySync()]));
      });
    const [a, b] = [batchToTensors(base), batchToTensors(candidates)];
    const [wa, wb] = [weights(a), weights(b)];
    expect(Object.keys(wa)).toEqual(["seq_source", "seq_target"]);
    for (const seq of Object.keys(wa)) {
      const length = base.sequences[seq]!.length;
      for (let i = 0; i < base.size; i++) {
        const [rowA, rowB] = [wa[seq]![i]!, wb[seq]![i]!];
        expect(rowA).toHaveLength(MAXLEN);
        // Tensor rows keep the batch order here (all rows are target rows).
        for (let l = length[i]!; l < MAXLEN; l++) expect(Math.abs(rowA[l]!) + Math.abs(rowB[l]!)).toBe(0);
        if (length[i]! > 0) expect(rowA.some((w, l) => Math.abs(w - rowB[l]!) > 1e-7)).toBe(true);
      }
    }
    disposeBatchTensors(a);
    disposeBatchTensors(b);
    model.dispose();
  });

  it("keys seq_target's attention on the item (id + shared features), seq_source's on the shared features", () => {
    const model = build();
    const named = model.namedVariables();
    const E = SMALL_SIZES.embedding_dim;
    const shared = model.frontEnd.sharedSize;
    // The first layer reads [q, k, q−k, q⊙k]: 4 × the width of a query.
    expect(named.get("din/seq_target_attention/mlp/dense0/kernel")!.shape[0]).toBe(4 * (shared + E));
    expect(named.get("din/seq_source_attention/mlp/dense0/kernel")!.shape[0]).toBe(4 * shared);
    const base = randomBatch(schema, { source: 0, target: 8 }, 5);
    // Only the candidate's item id changes: seq_target's weights move, seq_source's do not.
    const otherItem = withOtherIds(base, schema, ["target__item_id"]);
    // Only the seq_target elements' item ids change: seq_target's weights move.
    const otherElements = withOtherIds(base, schema, ["seq_target.item_id"]);
    const weights = (batch: typeof base) =>
      tf.tidy(() => {
        const tensors = batchToTensors(batch);
        const { weights } = model.attention(tensors, model.frontEnd.shared(tensors), "all", "predict");
        const out = Object.fromEntries(Object.entries(weights).map(([seq, w]) => [seq, w.arraySync() as number[][]]));
        disposeBatchTensors(tensors);
        return out;
      });
    const [w, wItem, wElements] = [weights(base), weights(otherItem), weights(otherElements)];
    const differs = (a: number[][], b: number[][], seq: string) =>
      a.some((row, i) => base.sequences[seq]!.length[i]! > 0 && row.some((x, l) => Math.abs(x - b[i]![l]!) > 1e-7));
    expect(w["seq_source"]).toEqual(wItem["seq_source"]);
    expect(differs(w["seq_target"]!, wItem["seq_target"]!, "seq_target")).toBe(true);
    expect(differs(w["seq_target"]!, wElements["seq_target"]!, "seq_target")).toBe(true);
    model.dispose();
  });

  it("uses Dice in every hidden layer (activation units, MLP, tower), whose moving statistics are state", () => {
    const model = build();
    const names = [...model.namedVariables().keys()];
    for (const prefix of ["din/seq_source_attention/mlp", "din/seq_target_attention/mlp", "din/mlp", "din/tower/hidden"]) {
      expect(names, prefix).toContain(`${prefix}/dice0/alpha`);
      expect(names, prefix).toContain(`${prefix}/dice0/moments/moving_mean`);
    }
    expect(names.filter((n) => n.endsWith("/alpha"))).toHaveLength(2 * SMALL_SIZES.attention.length + SMALL_SIZES.mlp.length + SMALL_SIZES.tower.length);
    const states = new Set(model.stateVariables());
    expect(states.size).toBe(2 * names.filter((n) => n.endsWith("/alpha")).length);
    expect(model.trainableVariables().some((v) => states.has(v))).toBe(false);
    model.dispose();
  });

  it("training uses batch statistics (and advances the moving ones); prediction is per row, whatever the batch", () => {
    const model = build();
    const a = randomBatch(schema, { source: 0, target: 10 }, 6);
    const b = randomBatch(schema, { source: 0, target: 10 }, 7);
    // b's first 4 rows replaced by a's first 4: the same rows in another batch.
    const mixed = withRows(b, a, 4);
    const [ta, tm] = [batchToTensors(a), batchToTensors(mixed)];
    const head = (x: tf.Tensor): number[] => Array.from(x.dataSync()).slice(0, 4);
    const movingMean = model.namedVariables().get("din/mlp/dice0/moments/moving_mean")!;
    const before = Array.from(movingMean.dataSync());
    tf.tidy(() => {
      expect(head(model.logits(ta, "all", "predict"))).toEqual(head(model.logits(tm, "all", "predict")));
      expect(Array.from(movingMean.dataSync())).toEqual(before);
      const [la, lm] = [head(model.logits(ta, "all", "train")), head(model.logits(tm, "all", "train"))];
      expect(la.some((x, i) => Math.abs(x - lm[i]!) > 1e-6)).toBe(true);
    });
    expect(Array.from(movingMean.dataSync())).not.toEqual(before);
    disposeBatchTensors(ta);
    disposeBatchTensors(tm);
    model.dispose();
  });
});

/** A copy of `into` whose first `n` rows are `from`'s first n rows (features, sequences, labels). */
function withRows(into: Batch, from: Batch, n: number): Batch {
  const rows = <T extends Int32Array | Float32Array | Uint8Array>(x: T, y: T, width = 1): T => {
    const out = x.slice() as T;
    out.set(y.subarray(0, n * width), 0);
    return out;
  };
  const features = Object.fromEntries(Object.entries(into.features).map(([c, ids]) => [c, rows(ids, from.features[c]!)]));
  const sequences = Object.fromEntries(
    Object.entries(into.sequences).map(([name, seq]) => {
      const other = from.sequences[name]!;
      const ids = Object.fromEntries(Object.entries(seq.ids).map(([e, v]) => [e, rows(v, other.ids[e]!, seq.maxlen)]));
      return [name, { ...seq, length: rows(seq.length, other.length), ids }];
    }),
  );
  return { ...into, entity: rows(into.entity, from.entity), label: rows(into.label, from.label), features, sequences };
}

describeLearning("DIN", dinRecipe, testSpec({}, { max_epochs: 2, patience: 2 }), 0.56, "logistic regression 0.60–0.62; 2 epochs of DIN (Dice, item-keyed seq_target) 0.565–0.594 over seeds 1–3");
