import type { FeatureGroup, PreparedFeature, PreparedSchema } from "../data/schema.ts";
import type { ExportedGraph, GraphInput } from "./graph.ts";

/** What the export says about the model it serves. */
export interface ServingInfo {
  /** Recipe name: a model of Table 2 or "mkt-<ablation>". */
  model: string;
  seed?: number;
  /** Prepared dataset directory holding the vocabularies. */
  preparedDir?: string;
}

/** How ids of a vocabulary are made (prepared dataset conventions). */
export interface VocabularyDescription {
  /** The prepared feature column whose vocabulary (and embedding table) the ids index. */
  column: string;
  type: PreparedFeature["type"];
  /** Number of ids, including 0 (padding/missing) and 1 (out-of-vocabulary). */
  size: number;
  /** Categorical: `vocab/<column>.tsv` of the prepared dataset (columns idx, value, train_count). */
  file?: string;
  /** Numeric: bucket boundaries fitted on the training split. */
  boundaries?: number[];
  /** How a raw value becomes an id. */
  ids: string;
}

/** One input of the served graph (a Placeholder), in the graph's input order. */
export interface ServingInputDescription {
  name: string;
  /** [null] for a feature, [null, maxlen] for a sequence element or mask; null is the batch. */
  shape: Array<number | null>;
  dtype: "int32" | "float32";
  kind: "feature" | "sequence_element" | "sequence_mask";
  /** Feature: its group (user, shared, or specific: the target entity's specific features). */
  group?: FeatureGroup;
  /** Feature or sequence element: the prepared column whose vocabulary its ids index. */
  column?: string;
  /** Sequence element or mask: the sequence. */
  sequence?: string;
  /** Sequence element: the element name. */
  element?: string;
  /** Feature or sequence element: the vocabulary its ids index. */
  vocabulary?: VocabularyDescription;
  description: string;
}

/** inputs.json. */
export interface ServingDescription {
  format: "mkt-serving";
  version: 2;
  /** Recipe name: a model of Table 2 or "mkt-<ablation>". */
  model: string;
  seed?: number;
  /** What the graph computes. */
  computes: string;
  /** model.json (tfjs "graph-model" format, weightsManifest → weights.bin). */
  modelFile: string;
  weightsFile: string;
  weightsSha256: string;
  dataset: string;
  /** Prepared dataset directory holding the vocabularies (when known). */
  preparedDir?: string;
  /** Entity whose impressions the model scores (the target entity). */
  entity: string;
  inputs: ServingInputDescription[];
  output: { name: string; shape: [null]; dtype: "float32"; description: string };
  /** The graph: nodes per TensorFlow op, and the model parameters it holds (logical names). */
  graph: { nodes: number; ops: Record<string, number>; parameters: string[] };
  /** How to load and call the model. */
  usage: string[];
}

/** The graph's input names: a feature column's own name; `<sequence>__<element>` and `<sequence>__mask`. */
export const servingInputs = {
  element: (sequence: string, element: string): string => `${sequence}__${element}`,
  mask: (sequence: string): string => `${sequence}__mask`,
  /** Every input a forward pass may read, in schema order: features, then each sequence's elements and mask. */
  all(schema: PreparedSchema): GraphInput[] {
    const inputs: GraphInput[] = schema.features.map((f) => ({ name: f.column, dtype: "int32", shape: [-1] }));
    for (const seq of schema.sequences) {
      for (const element of Object.keys(seq.elements)) inputs.push({ name: servingInputs.element(seq.name, element), dtype: "int32", shape: [-1, seq.maxlen] });
      inputs.push({ name: servingInputs.mask(seq.name), dtype: "float32", shape: [-1, seq.maxlen] });
    }
    const seen = new Set<string>();
    for (const { name } of inputs) {
      if (seen.has(name)) throw new Error(`export: two inputs would be named '${name}' (a sequence element called 'mask'?)`);
      seen.add(name);
    }
    return inputs;
  },
};

function vocabularyOf(feature: PreparedFeature): VocabularyDescription {
  const base = { column: feature.column, type: feature.type, size: feature.vocabSize };
  if (feature.type === "numeric") {
    return {
      ...base,
      boundaries: feature.boundaries ?? [],
      ids: "0 = missing; otherwise 2 + the number of boundaries ≤ the value",
    };
  }
  return {
    ...base,
    file: `vocab/${feature.column}.tsv`,
    ids: "0 = missing/padding, 1 = out-of-vocabulary, otherwise the value's idx in the vocabulary file",
  };
}

function describeInput(schema: PreparedSchema, input: GraphInput): ServingInputDescription {
  const base = { name: input.name, shape: input.shape.map((d, i) => (i === 0 ? null : d)), dtype: input.dtype };
  const features = new Map(schema.features.map((f) => [f.column, f]));
  const feature = features.get(input.name);
  if (feature !== undefined) {
    return {
      ...base,
      kind: "feature",
      group: feature.group,
      column: feature.column,
      vocabulary: vocabularyOf(feature),
      description:
        feature.entity === "source"
          ? `the ${schema.entities.source.name}-specific feature ${feature.name}: 0 for a ${schema.entities.target.name} impression, as in the data (the model reads both entities' columns)`
          : `the ${feature.group === "specific" ? `${schema.entities.target.name}-specific` : feature.group} feature ${feature.name} of each row (id in its vocabulary)`,
    };
  }
  for (const seq of schema.sequences) {
    if (input.name === servingInputs.mask(seq.name)) {
      return {
        ...base,
        kind: "sequence_mask",
        sequence: seq.name,
        description: `${seq.name} (the user's ${schema.entities[seq.entity].name} clicks, newest first): 1 for the real elements, 0 for padding`,
      };
    }
    for (const [element, column] of Object.entries(seq.elements)) {
      if (input.name !== servingInputs.element(seq.name, element)) continue;
      return {
        ...base,
        kind: "sequence_element",
        sequence: seq.name,
        element,
        column,
        vocabulary: vocabularyOf(features.get(column)!),
        description: `${element} of each element of ${seq.name} (newest first, 0 at padding), ids of ${column}'s vocabulary`,
      };
    }
  }
  throw new Error(`export: input '${input.name}' is no feature or sequence of the schema`);
}

/** inputs.json for an exported graph. */
export function describeServing(
  schema: PreparedSchema,
  info: ServingInfo,
  graph: ExportedGraph,
  files: { modelFile: string; weightsFile: string; weightsSha256: string; output: string },
): ServingDescription {
  const entity = schema.entities.target.name;
  return {
    format: "mkt-serving",
    version: 2,
    model: info.model,
    ...(info.seed !== undefined ? { seed: info.seed } : {}),
    computes:
      `${info.model}'s predictTarget, the forward pass training and evaluation use, traced into a graph: ` +
      `the click probability of each row read as a ${entity} (target-entity) impression`,
    modelFile: files.modelFile,
    weightsFile: files.weightsFile,
    weightsSha256: files.weightsSha256,
    dataset: schema.dataset,
    ...(info.preparedDir !== undefined ? { preparedDir: info.preparedDir } : {}),
    entity,
    inputs: graph.inputs.map((input) => describeInput(schema, input)),
    output: { name: files.output, shape: [null], dtype: "float32", description: `click probability of each row, read as a ${entity} impression` },
    graph: { nodes: graph.topology.node.length, ops: graph.opCounts, parameters: graph.variables },
    usage: USAGE,
  };
}

const USAGE = [
  "Plain @tensorflow/tfjs, no mkt code: a GraphModel. Browser: const model = await tf.loadGraphModel('<url>/model.json').",
  "Node with @tensorflow/tfjs-node: await tf.loadGraphModel('file:///abs/path/model.json').",
  "Node with plain @tensorflow/tfjs: const json = JSON.parse(fs.readFileSync('model.json', 'utf8')); const bin = fs.readFileSync('weights.bin'); " +
    "const model = await tf.loadGraphModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, " +
    "weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) })).",
  "Predict: model.execute({ <input name>: tensor, … }, 'click_probability') with one tensor per entry of `inputs` (their names and order are model.inputNodes): " +
    "features int32 [B], sequence elements int32 [B, maxlen] (0 at padding), masks float32 [B, maxlen]. The output is [B] click probabilities.",
  "Ids are those of the prepared dataset (vocabulary files under its vocab/ directory, see each input's vocabulary).",
];

/** README.md of an export directory: how to load and call the model. */
export function servingReadme(description: ServingDescription): string {
  const rows = description.inputs.map(
    (i) => `| ${i.name} | ${i.dtype}[${i.shape.map((d) => d ?? "B").join(", ")}] | ${i.kind} | ${i.column ?? ""} | ${i.vocabulary ? String(i.vocabulary.size) : ""} |`,
  );
  return [
    `# ${description.model} serving model`,
    "",
    `${description.computes} (dataset ${description.dataset}). A TensorFlow.js GraphModel: plain`,
    "`@tensorflow/tfjs` loads and runs it, no mkt code.",
    "",
    "## Loading",
    "",
    "Browser (plain `@tensorflow/tfjs`):",
    "",
    "```js",
    'const model = await tf.loadGraphModel("https://…/serving/model.json");',
    "```",
    "",
    "Node, plain `@tensorflow/tfjs` (no file system handler):",
    "",
    "```js",
    'import * as tf from "@tensorflow/tfjs";',
    'import { readFile } from "node:fs/promises";',
    'const json = JSON.parse(await readFile("serving/model.json", "utf8"));',
    'const bin = await readFile("serving/weights.bin");',
    "const model = await tf.loadGraphModel(tf.io.fromMemory({",
    "  modelTopology: json.modelTopology,",
    "  weightSpecs: json.weightsManifest[0].weights,",
    "  weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),",
    "}));",
    "```",
    "",
    'With `@tensorflow/tfjs-node`: `await tf.loadGraphModel("file:///abs/path/serving/model.json")`.',
    "",
    "## Calling",
    "",
    "```js",
    "const p = model.execute({",
    ...description.inputs.map((i) => `  ${JSON.stringify(i.name)}: tf.tensor(…, [B${i.shape.slice(1).map((d) => `, ${d}`).join("")}], ${JSON.stringify(i.dtype)}),`),
    `}, ${JSON.stringify(description.output.name)});`,
    "```",
    "",
    `\`${description.output.name}\` is [B]: ${description.output.description}. Masks are 1 for real sequence`,
    "elements and 0 for padding. Ids follow the prepared dataset's vocabularies (0 = missing/padding,",
    "1 = out-of-vocabulary); `inputs.json` has the details of every input, and `weightsSha256` the",
    "checksum of weights.bin.",
    "",
    "| input | dtype[shape] | kind | vocabulary column | vocabulary size |",
    "|---|---|---|---|---|",
    ...rows,
    "",
  ].join("\n");
}
