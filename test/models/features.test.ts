import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import type { PreparedSchema } from "../../src/data/schema.ts";
import { ParamInit } from "../../src/layers/params.ts";
import { FeatureFrontEnd } from "../../src/models/features.ts";
import type { BatchTensors } from "../../src/models/inputs.ts";
import { sliceRows } from "../../src/models/rows.ts";
import { expectClose } from "../layers/helpers.ts";
import { MAXLEN, randomTensors, testSchema } from "./helpers.ts";

const schema = testSchema();
const E = 4;
let batch: BatchTensors;

beforeAll(async () => {
  await tf.setBackend("cpu");
  batch = randomTensors(schema, { source: 7, target: 5 });
});

describe("FeatureFrontEnd", () => {
  const frontEnd = (options: Partial<ConstructorParameters<typeof FeatureFrontEnd>[3]> = {}): FeatureFrontEnd =>
    new FeatureFrontEnd("fe", new ParamInit(1), schema, { dim: E, ...options });

  it("gives v_u, v_shared, v_spec per entity and v_seq of the documented widths", () => {
    const fe = frontEnd();
    expect([fe.userSize, fe.sharedSize, fe.seqSize]).toEqual([2 * E, 2 * E, 2 * 3 * E]);
    expect(fe.user(batch).shape).toEqual([12, 2 * E]);
    expect(fe.shared(batch, "target")!.shape).toEqual([5, 2 * E]);
    expect(fe.specific(batch, "source").shape).toEqual([7, 4, E]);
    expect(fe.specific(batch, "target").shape).toEqual([5, 1, E]);
    expect(fe.specific(batch, "target", "all").shape).toEqual([12, 1, E]);
    const seq = fe.sequence(batch, "seq_target");
    expect(seq.keys!.shape).toEqual([12, MAXLEN, 2 * E]);
    expect(seq.values.shape).toEqual([12, MAXLEN, 3 * E]);
    expect(fe.pooledSequences(batch, fe.shared(batch)).shape).toEqual([12, fe.seqSize]);
  });

  it("embeds an entity's rows exactly as the same rows of the whole batch", () => {
    const fe = frontEnd();
    expectClose(fe.user(batch, "target"), sliceRows(fe.user(batch), batch, "target"), 0);
    const all = fe.pooledSequences(batch, fe.shared(batch));
    expectClose(fe.pooledSequences(batch, fe.shared(batch, "source"), "source"), sliceRows(all, batch, "source"), 1e-6);
  });

  it("lines sequence keys up with the query: shared features in schema order, item id in the entity's table", () => {
    const fe = frontEnd();
    const seq = fe.sequence(batch, "seq_source");
    const ids = batch.sequences["seq_source"]!.ids;
    const table = (column: string): tf.Tensor => fe.namedVariables().get(`fe/emb/${column}/table`)!;
    // Element order in the schema is creator_id, item_id, category; keys must be category, creator_id.
    const expected = tf.concat(
      [tf.gather(table("shared__category"), ids["category"]!), tf.gather(table("shared__creator_id"), ids["creator_id"]!)],
      2,
    );
    expectClose(seq.keys!, expected, 0);
    const item = tf.slice(seq.values, [0, 0, 2 * E], [-1, -1, E]);
    expectClose(item, tf.gather(table("source__item_id"), ids["item_id"]!), 0);
    // The candidate's shared embedding is the query: same tables, same order.
    expectClose(fe.shared(batch)!, tf.concat([tf.gather(table("shared__category"), batch.features["shared__category"]!), tf.gather(table("shared__creator_id"), batch.features["shared__creator_id"]!)], 1), 0);
  });

  it("has one attention unit per sequence, and mean pooling has none", () => {
    const names = [...frontEnd().namedVariables().keys()];
    expect(names.filter((n) => n.endsWith("score/kernel"))).toEqual(["fe/seq_source_attention/score/kernel", "fe/seq_target_attention/score/kernel"]);
    const mean = frontEnd({ pooling: "mean" });
    expect([...mean.namedVariables().keys()].some((n) => n.includes("attention"))).toBe(false);
    const { values, mask } = mean.sequence(batch, "seq_target");
    const pooled = tf.slice(mean.pooledSequences(batch, mean.shared(batch)), [0, 3 * E], [-1, 3 * E]);
    const count = tf.maximum(tf.sum(mask, 1, true), 1);
    expectClose(pooled, tf.div(tf.sum(tf.mul(values, mask.expandDims(2)), 1), count), 1e-6);
  });

  it("a target-only front end has tables for target-specific and sequence item ids only", () => {
    const fe = frontEnd({ specificEntities: ["target"] });
    const tables = [...fe.namedVariables().keys()].filter((n) => n.endsWith("/table"));
    expect(tables).toContain("fe/emb/source__item_id/table"); // seq_source's item ids
    expect(tables).toContain("fe/emb/target__item_id/table");
    expect(tables).not.toContain("fe/emb/source__price/table");
    expect(() => fe.specific(batch, "source")).toThrow(/source-specific/);
  });

  it("gives padding no weight: changing padded ids leaves v_seq unchanged", () => {
    const fe = frontEnd();
    const before = fe.pooledSequences(batch, fe.shared(batch));
    const seq = batch.sequences["seq_source"]!;
    const changed: BatchTensors = {
      ...batch,
      sequences: {
        ...batch.sequences,
        seq_source: { mask: seq.mask, ids: Object.fromEntries(Object.entries(seq.ids).map(([k, v]) => [k, tf.where(tf.cast(seq.mask, "bool"), v, tf.onesLike(v))])) as Record<string, tf.Tensor2D> },
      },
    };
    expectClose(fe.pooledSequences(changed, fe.shared(changed)), before, 0);
  });

  it("without shared features: no v_shared, elements are item ids, attention pooling becomes the mean (no unit)", () => {
    const noShared: PreparedSchema = {
      ...schema,
      features: schema.features.filter((f) => f.group !== "shared"),
      sequences: schema.sequences.map((seq) => ({ ...seq, elements: { item_id: seq.elements["item_id"]! } })),
    };
    const fe = new FeatureFrontEnd("fe", new ParamInit(1), noShared, { dim: E });
    expect([fe.sharedSize, fe.seqSize]).toEqual([0, 2 * E]);
    expect(fe.shared(batch)).toBeUndefined();
    expect([...fe.namedVariables().keys()].filter((n) => n.includes("attention") || n.includes("shared__"))).toEqual([]);
    const { keys, values, mask } = fe.sequence(batch, "seq_target");
    expect(keys).toBeUndefined();
    const table = fe.namedVariables().get("fe/emb/target__item_id/table")!;
    expectClose(values, tf.gather(table, batch.sequences["seq_target"]!.ids["item_id"]!), 0);
    const pooled = tf.slice(fe.pooledSequences(batch, undefined), [0, E], [-1, E]);
    expectClose(pooled, tf.div(tf.sum(tf.mul(values, mask.expandDims(2)), 1), tf.maximum(tf.sum(mask, 1, true), 1)), 1e-6);
  });

  it("does not leak tensors outside tidy", () => {
    const fe = frontEnd();
    const start = tf.memory().numTensors;
    const pooled = tf.tidy(() => fe.pooledSequences(batch, fe.shared(batch, "target"), "target"));
    expect(tf.memory().numTensors).toBe(start + 1);
    pooled.dispose();
  });
});
