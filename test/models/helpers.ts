import * as tf from "@tensorflow/tfjs";
import { SOURCE, TARGET, type Batch, type SequenceBatch } from "../../src/data/batch.ts";
import { PREPARED_FORMAT_VERSION, type PreparedFeature, type PreparedSchema, type PreparedSequence } from "../../src/data/schema.ts";
import { batchToTensors, type BatchTensors } from "../../src/models/inputs.ts";
import { sizesSchema } from "../../src/spec/experiment-common.ts";
import type { ModelSizes } from "../../src/models/mkt/mem.ts";
import { mulberry32 } from "../../src/util/random.ts";

export const MAXLEN = 5;

/** Small sizes for fast tests (E = 4, d_CKE = 8). */
export const SMALL_SIZES: ModelSizes = sizesSchema.parse({
  embedding_dim: 4,
  mlp: [16, 8],
  cke_levels: [16, 8],
  tower: [8],
  hfa_dim: 8,
  attention: [8],
});

const feature = (column: string, group: PreparedFeature["group"], entity: PreparedFeature["entity"], vocabSize: number): PreparedFeature => ({
  name: column.split("__")[1]!,
  column,
  group,
  entity,
  type: "categorical",
  vocabSize,
});

const sequence = (entity: "source" | "target"): PreparedSequence => ({
  name: `seq_${entity}`,
  entity,
  maxlen: MAXLEN,
  // Element order differs from the schema's shared order on purpose: keys must follow the schema.
  elements: { creator_id: "shared__creator_id", item_id: `${entity}__item_id`, category: "shared__category" },
  rowColumn: `seq_${entity}__item_row`,
  lengthColumn: `seq_${entity}__length`,
  itemsFile: `items/${entity}.parquet`,
  itemCount: 10,
});

/** A hand-built schema: 2 user, 2 shared, 4 source-specific and 1 target-specific features. */
export function testSchema(): PreparedSchema {
  return {
    version: PREPARED_FORMAT_VERSION,
    dataset: "hand-built",
    specHash: "test",
    entities: {
      source: { name: "product", specificColumns: ["source__item_id", "source__price", "source__condition", "source__brand"] },
      target: { name: "content", specificColumns: ["target__item_id"] },
    },
    features: [
      feature("user__user_id", "user", "both", 20),
      feature("user__gender", "user", "both", 4),
      feature("shared__category", "shared", "both", 10),
      feature("shared__creator_id", "shared", "both", 15),
      feature("source__item_id", "specific", "source", 30),
      feature("source__price", "specific", "source", 8),
      feature("source__condition", "specific", "source", 5),
      feature("source__brand", "specific", "source", 6),
      feature("target__item_id", "specific", "target", 25),
    ],
    sequences: [sequence("source"), sequence("target")],
    userGroups: [10, 30],
    splits: {},
    split: { by: "time", detail: "hand-built" },
  };
}

/**
 * A random batch as the reader would give it: entities interleaved, the other entity's specific
 * columns 0, sequences with random lengths (some empty) padded with 0. Labels depend on the ids so
 * that a model can learn something from a fixed batch.
 */
export function randomBatch(schema: PreparedSchema, counts: { source: number; target: number }, seed = 1): Batch {
  const random = mulberry32(seed);
  const size = counts.source + counts.target;
  const int = (n: number): number => Math.floor(random() * n);
  const entity = new Uint8Array(size);
  const targets = new Set<number>();
  while (targets.size < counts.target) targets.add(int(size));
  for (const i of targets) entity[i] = TARGET;
  const features: Record<string, Int32Array> = {};
  for (const f of schema.features) {
    const ids = new Int32Array(size);
    for (let i = 0; i < size; i++) {
      const owner = entity[i] === SOURCE ? "source" : "target";
      ids[i] = f.entity === "both" || f.entity === owner ? int(f.vocabSize) : 0;
    }
    features[f.column] = ids;
  }
  const sequences: Record<string, SequenceBatch> = {};
  for (const seq of schema.sequences) {
    const length = Int32Array.from({ length: size }, () => int(seq.maxlen + 1));
    const ids: Record<string, Int32Array> = {};
    for (const [element, column] of Object.entries(seq.elements)) {
      const vocab = schema.features.find((f) => f.column === column)!.vocabSize;
      const values = new Int32Array(size * seq.maxlen);
      for (let i = 0; i < size; i++) for (let l = 0; l < length[i]!; l++) values[i * seq.maxlen + l] = 1 + int(vocab - 1);
      ids[element] = values;
    }
    sequences[seq.name] = { maxlen: seq.maxlen, length, ids };
  }
  const label = Float32Array.from({ length: size }, (_, i) => ((features["shared__category"]![i]! + features["user__gender"]![i]!) % 2 === 0 ? 1 : 0));
  return {
    size,
    entity,
    label,
    userKey: features["user__user_id"]!,
    userClicks: new Int32Array(size),
    slice: new Int32Array(size),
    features,
    sequences,
  };
}

export function randomTensors(schema: PreparedSchema, counts: { source: number; target: number }, seed = 1): BatchTensors {
  return batchToTensors(randomBatch(schema, counts, seed));
}

/** Largest |gradient| of `loss` per variable, by logical name (0 when no gradient reaches it). */
export function gradientMagnitudes(named: Map<string, tf.Variable>, loss: () => tf.Scalar): Map<string, number> {
  const { value, grads } = tf.variableGrads(loss, [...named.values()]);
  const out = new Map<string, number>();
  for (const [name, variable] of named) {
    const grad = grads[variable.name];
    out.set(name, grad === undefined ? 0 : tf.max(tf.abs(grad)).dataSync()[0]!);
  }
  tf.dispose([value, grads]);
  return out;
}

/** A copy of every variable's values, by logical name. */
export function snapshot(named: Map<string, tf.Variable>): Map<string, Float32Array> {
  return new Map([...named].map(([name, v]) => [name, Float32Array.from(v.dataSync() as Float32Array)]));
}

export function sameValues(a: Float32Array, b: Float32Array | undefined): boolean {
  return b !== undefined && a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
}
