import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { ParamInit } from "../../../src/layers/params.ts";
import { DinModel, dinRecipe } from "../../../src/models/baselines/din.ts";
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
        const { weights } = model.attention(tensors, model.frontEnd.shared(tensors));
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
});

describeLearning("DIN", dinRecipe, testSpec({}, { max_epochs: 2, patience: 2 }), 0.56, "logistic regression 0.60–0.62; 2 epochs of DIN 0.580–0.591 over seeds 1–3");
