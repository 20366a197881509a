import { createHash } from "node:crypto";
import { join } from "node:path";
import { tf, withTfjsKernelsOnly } from "../engine/index.ts";
import { TARGET, type Batch } from "../data/batch.ts";
import type { PreparedSchema } from "../data/schema.ts";
import { withTensors } from "../models/batch-loop.ts";
import type { BatchTensors } from "../models/inputs.ts";
import type { CtrModel } from "../models/model.ts";
import { modelDir } from "../run/model-run.ts";
import { buildDirAtomic, writeFileAtomic } from "../util/atomic.ts";
import { CHECKSUMS_FILE, sealDir } from "../util/checksums.ts";
import { describeServing, servingInputs, servingReadme, type ServingDescription, type ServingInfo } from "./describe.ts";
import { buildGraph, type ExportedGraph } from "./graph.ts";
import { traceForward, type Trace } from "./trace.ts";

/**
 * The serving export of a trained model (SPEC §2 "Serving model"): the model's own forward pass,
 * `predictTarget`, recorded kernel by kernel while it runs (trace.ts) and written as a TensorFlow.js
 * GraphModel (format "graph-model") that plain `@tensorflow/tfjs` loads and runs with
 * `tf.loadGraphModel`, no mkt code. Nothing is rebuilt by hand: the graph holds exactly what the
 * forward pass computes, so every model of Table 2 and every MKT ablation exports alike (for MKT,
 * TEM plus what it reads of the frozen MEM: the only MEM parts its predictTarget runs).
 *
 * The pass is traced twice, at two batch sizes: what differs between the traces is the batch
 * dimension (graph.ts), so the graph takes any number of rows.
 */

export const MODEL_FILE = "model.json";
export const WEIGHTS_FILE = "weights.bin";
export const INPUTS_FILE = "inputs.json";
export const README_FILE = "README.md";
const SERVING_FILES = [MODEL_FILE, WEIGHTS_FILE, INPUTS_FILE, README_FILE];
/** Name of the graph's output node: the click probability of each row [B]. */
export const OUTPUT_NAME = "click_probability";

/** Directory of the serving export of one (model, seed): `<runDir>/<model>/seed-<seed>/serving`. */
export function servingDir(runDir: string, model: string, seed: number): string {
  return join(modelDir(runDir, model, seed), "serving");
}

/** The two batch sizes of the traces (any two different sizes would do; small keeps tracing cheap). */
const TRACE_ROWS = [3, 5] as const;

/** model.json: tfjs's GraphModel artifacts with weightsManifest → weights.bin. */
export interface GraphModelJson {
  format: "graph-model";
  generatedBy: string;
  convertedBy: string;
  modelTopology: ExportedGraph["topology"];
  weightsManifest: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }>;
}

/**
 * A batch of `rows` target rows built from the schema alone, to trace the forward pass: valid ids
 * of every feature and sequence element, sequences of every length from empty to full.
 */
export function traceBatch(schema: PreparedSchema, rows: number): Batch {
  const vocab = new Map(schema.features.map((f) => [f.column, f.vocabSize]));
  const id = (column: string, i: number): number => i % (vocab.get(column) ?? 1);
  const features = Object.fromEntries(schema.features.map((f) => [f.column, Int32Array.from({ length: rows }, (_, i) => id(f.column, i + 1))]));
  const sequences = Object.fromEntries(
    schema.sequences.map((seq) => {
      const length = Int32Array.from({ length: rows }, (_, i) => i % (seq.maxlen + 1));
      const ids = Object.fromEntries(
        Object.entries(seq.elements).map(([element, column]) => {
          const values = new Int32Array(rows * seq.maxlen);
          for (let i = 0; i < rows; i++) for (let l = 0; l < length[i]!; l++) values[i * seq.maxlen + l] = id(column, i + l + 1);
          return [element, values];
        }),
      );
      return [seq.name, { maxlen: seq.maxlen, length, ids }];
    }),
  );
  return {
    size: rows,
    entity: new Uint8Array(rows).fill(TARGET),
    label: new Float32Array(rows),
    userKey: new Int32Array(rows),
    userClicks: new Int32Array(rows),
    slice: new Int32Array(rows),
    features,
    sequences,
  };
}

/**
 * Every tensor of a batch by the name the graph gives it (servingInputs' names), and the two a
 * served model is never given (label and entity flags), so that a forward pass reading them fails.
 */
function namedBatchTensors(t: BatchTensors): Map<string, tf.Tensor> {
  const named = new Map<string, tf.Tensor>([
    ["label", t.label],
    ["is_target", t.isTarget],
  ]);
  for (const [column, ids] of Object.entries(t.features)) named.set(column, ids);
  for (const [sequence, seq] of Object.entries(t.sequences)) {
    for (const [element, ids] of Object.entries(seq.ids)) named.set(servingInputs.element(sequence, element), ids);
    named.set(servingInputs.mask(sequence), seq.mask);
  }
  return named;
}

function traceAt(model: CtrModel, schema: PreparedSchema, rows: number): Trace {
  return withTensors(traceBatch(schema, rows), (t) => traceForward(() => withTfjsKernelsOnly(() => model.predictTarget(t)), model.module.namedVariables(), namedBatchTensors(t)));
}

export interface ExportResult {
  dir: string;
  files: string[];
  description: ServingDescription;
  /** Size of weights.bin in bytes. */
  weightBytes: number;
}

/**
 * Traces `model.predictTarget` and writes its serving model to `dir`: model.json, weights.bin,
 * inputs.json and README.md, sealed by checksums.json (their SHA-256).
 * The directory is built under a temporary name and renamed into place, so `dir` is either the
 * previous export or the complete new one.
 */
export async function exportServingModel(model: CtrModel, schema: PreparedSchema, dir: string, info: ServingInfo): Promise<ExportResult> {
  const traces = TRACE_ROWS.map((rows) => traceAt(model, schema, rows)) as [Trace, Trace];
  const graph = buildGraph(info.model, traces, model.module.namedVariables(), servingInputs.all(schema), OUTPUT_NAME);
  const modelJson: GraphModelJson = {
    format: "graph-model",
    generatedBy: `mkt export (tfjs ${tf.version.tfjs})`,
    convertedBy: `mkt export: the kernels of ${info.model}'s predictTarget, traced`,
    modelTopology: graph.topology,
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights: graph.weightSpecs }],
  };
  const weightsSha256 = createHash("sha256").update(graph.weightData).digest("hex");
  const description = describeServing(schema, info, graph, { modelFile: MODEL_FILE, weightsFile: WEIGHTS_FILE, weightsSha256, output: OUTPUT_NAME });
  await buildDirAtomic(dir, async (tmp) => {
    await writeFileAtomic(join(tmp, MODEL_FILE), JSON.stringify(modelJson) + "\n");
    await writeFileAtomic(join(tmp, WEIGHTS_FILE), graph.weightData);
    await writeFileAtomic(join(tmp, INPUTS_FILE), JSON.stringify(description, null, 2) + "\n");
    await writeFileAtomic(join(tmp, README_FILE), servingReadme(description));
    // The same seal as every other artefact of a run: a copied or damaged file is detectable.
    await sealDir(tmp, SERVING_FILES);
  });
  return { dir, files: [...SERVING_FILES, CHECKSUMS_FILE], description, weightBytes: graph.weightData.byteLength };
}
