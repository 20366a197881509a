import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import type { Batch } from "../data/batch.ts";
import type { FeatureGroup, PreparedFeature, PreparedSchema } from "../data/schema.ts";
import type { BatchTensors } from "../models/inputs.ts";
import type { TargetEntityModel } from "../models/mkt/tem.ts";
import { buildDirAtomic, writeFileAtomic } from "../util/atomic.ts";

/**
 * The serving model (SPEC §2 "Serving model"): the fine-tuned TEM plus the parts of its frozen MEM
 * that the target path uses (MEM's embeddings and sequence encoders, HFA^t, CKE's target path: the
 * target and shared experts and the target gates of every level, and the shared gates that feed the
 * next level's shared experts), as one tfjs LayersModel made of built-in layers only. It loads with
 * plain `@tensorflow/tfjs` (`tf.loadLayersModel`), no mkt code, and gives the predictions of
 * `TargetEntityModel.predictTarget` (every row read as a target-entity impression).
 *
 * Layers tfjs lacks are rewritten exactly (up to float rounding):
 * - DIN's [q, k, q−k, q⊙k] · W = [q, k, q⊙k] · [W_q + W_d; W_k − W_d; W_p] (no subtract layer);
 * - the cross network's x_0 (x_lᵀ w_l) multiplies x_0 by a Dense whose kernel is w_l repeated in every
 *   column (each output is the same dot product), and + b_l + x_l is add(…, Dense_{I, b_l}(x_l));
 * - HFA's p = 2·sigmoid(FC(·)) per field: the FC's columns are repeated E times (one per element of the
 *   field's embedding), so the sigmoid already has the width of flatten(v_spec); the factor 2 is folded
 *   into the align Dense's kernel;
 * - weighted sums over sequence positions and over experts are `dot` layers on axis 1.
 *
 * Files written by exportServingModel: model.json (tfjs "layers-model" format, weightsManifest →
 * weights.bin), weights.bin, inputs.json (every input and the output, see ServingDescription) and
 * README.md (how to load and call it).
 */

export const MODEL_FILE = "model.json";
export const WEIGHTS_FILE = "weights.bin";
export const INPUTS_FILE = "inputs.json";
export const README_FILE = "README.md";
/** Name of the model's only output: the click probability [B, 1]. */
export const OUTPUT_NAME = "click_probability";

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

/** One input of the serving model, in model.inputs order. */
export interface ServingInputDescription {
  /** Input name (model.inputNames). */
  name: string;
  /** [batch, 1] for a feature, [batch, maxlen] for a sequence element or mask. */
  shape: [null, number];
  dtype: "int32" | "float32";
  kind: "feature" | "sequence_element" | "sequence_mask";
  /** Feature: its group (user, shared, or specific: the target entity's specific features). */
  group?: FeatureGroup;
  /** Feature: the prepared column it takes (Batch.features key). */
  column?: string;
  /** Sequence element or mask: the sequence (Batch.sequences key). */
  sequence?: string;
  /** Sequence element: the element name (SequenceBatch.ids key). */
  element?: string;
  /** Feature or sequence element: the vocabulary its ids index. */
  vocabulary?: VocabularyDescription;
  description: string;
}

/** inputs.json. */
export interface ServingDescription {
  format: "mkt-serving";
  version: 1;
  /** What the model computes. */
  model: string;
  /** tfjs LayersModel topology with weightsManifest → weights. */
  modelFile: string;
  weightsFile: string;
  dataset: string;
  /** Prepared dataset directory holding the vocabularies (when known). */
  preparedDir?: string;
  /** Entity whose impressions the model scores (the target entity). */
  entity: string;
  inputs: ServingInputDescription[];
  output: { name: string; shape: [null, 1]; dtype: "float32"; description: string };
  /** How to load and call the model. */
  usage: string[];
}

export interface ServingModel {
  model: tf.LayersModel;
  description: ServingDescription;
}

type Activation = "relu" | "sigmoid" | "softmax" | "linear";

interface SequenceLayout {
  name: string;
  maxlen: number;
  /** Element → column, keys in the schema's shared-feature order (they line up with the query v_shared). */
  keyElements: Array<[string, string]>;
  /** The other elements (item ids), in the schema's element order. */
  valueElements: Array<[string, string]>;
  /** Every element in the schema's element order (the model's input order). */
  elements: Array<[string, string]>;
}

/** Model input name of a sequence element and of a sequence's mask. */
export function sequenceInputName(sequence: string, element: string): string {
  return `${sequence}__${element}`;
}
export function maskInputName(sequence: string): string {
  return `${sequence}__mask`;
}

const VALID_NAME = /^[A-Za-z0-9][-A-Za-z0-9._]*$/;

/**
 * Builds the graph of layers and copies the weights from the trained variables. Layers carry their
 * weights from the start (no initializer draws random numbers), and the graph owns copies: the TEM
 * may be trained further or disposed afterwards.
 */
class GraphBuilder {
  readonly inputs: tf.SymbolicTensor[] = [];
  readonly inputDescriptions: ServingInputDescription[] = [];
  private readonly layerNames = new Set<string>();
  private readonly inputsByName = new Map<string, tf.SymbolicTensor>();
  private readonly embeddings = new Map<string, tf.layers.Layer>();

  constructor(
    private readonly params: ReadonlyMap<string, tf.Variable>,
    private readonly owner: string,
  ) {}

  has(name: string): boolean {
    return this.params.has(name);
  }

  param(name: string): tf.Variable {
    const variable = this.params.get(name);
    if (variable === undefined) throw new Error(`serving: model '${this.owner}' has no parameter '${name}'`);
    return variable;
  }

  /** Number of layers `<prefix><k>/kernel` (k = 0, 1, …). */
  count(prefix: string, suffix = "/kernel"): number {
    let n = 0;
    while (this.has(`${prefix}${n}${suffix}`)) n++;
    return n;
  }

  /** A unique layer name from a logical path ("tem/cross/dense0" → "tem.cross.dense0"). */
  private layerName(path: string): string {
    const base = path.replaceAll("/", ".").replace(/[^-A-Za-z0-9._]/g, "_");
    let name = base;
    for (let n = 2; this.layerNames.has(name); n++) name = `${base}_${n}`;
    this.layerNames.add(name);
    return name;
  }

  input(description: ServingInputDescription): tf.SymbolicTensor {
    const existing = this.inputsByName.get(description.name);
    if (existing !== undefined) return existing;
    if (!VALID_NAME.test(description.name)) throw new Error(`serving: '${description.name}' is not a valid tfjs input name`);
    if (this.layerNames.has(description.name)) throw new Error(`serving: two inputs are named '${description.name}'`);
    this.layerNames.add(description.name);
    const x = tf.input({ name: description.name, shape: [description.shape[1]], dtype: description.dtype });
    this.inputs.push(x);
    this.inputDescriptions.push(description);
    this.inputsByName.set(description.name, x);
    return x;
  }

  /** Applies `layer` and sets its weights (owned copies; derived tensors are disposed here). */
  private applyWith(layer: tf.layers.Layer, x: tf.SymbolicTensor | tf.SymbolicTensor[], weights: tf.Tensor[] = []): tf.SymbolicTensor {
    const y = layer.apply(x) as tf.SymbolicTensor;
    if (weights.length) {
      // Assigning shares the values (tfjs tensors are immutable); derived tensors are released here.
      layer.setWeights(weights);
      for (const w of weights) if (!(w instanceof tf.Variable)) w.dispose();
    }
    return y;
  }

  dense(path: string, x: tf.SymbolicTensor, kernel: tf.Tensor, bias: tf.Tensor | undefined, activation: Activation = "linear", trainable = true): tf.SymbolicTensor {
    const units = kernel.shape[1];
    if (kernel.rank !== 2 || units === undefined) throw new Error(`serving: ${path}: a kernel must be 2-D, got [${kernel.shape.join(", ")}]`);
    const layer = tf.layers.dense({
      name: this.layerName(path),
      units,
      activation,
      useBias: bias !== undefined,
      kernelInitializer: "zeros",
      trainable,
    });
    return this.applyWith(layer, x, bias === undefined ? [kernel] : [kernel, bias]);
  }

  /** A Dense module `prefix` ("…/kernel", "…/bias") as it is. */
  denseOf(prefix: string, x: tf.SymbolicTensor, activation: Activation = "linear"): tf.SymbolicTensor {
    const bias = this.has(`${prefix}/bias`) ? this.param(`${prefix}/bias`) : undefined;
    return this.dense(prefix, x, this.param(`${prefix}/kernel`), bias, activation);
  }

  /** An Mlp module (`prefix/dense<k>`, ReLU on every layer). */
  mlpOf(prefix: string, x: tf.SymbolicTensor): tf.SymbolicTensor {
    const layers = this.count(`${prefix}/dense`);
    for (let k = 0; k < layers; k++) x = this.denseOf(`${prefix}/dense${k}`, x, "relu");
    return x;
  }

  /** Ids [B, n] → [B, n, E] through the embedding table `table` (one layer per table, shared by every use). */
  embed(table: string, ids: tf.SymbolicTensor): tf.SymbolicTensor {
    let layer = this.embeddings.get(table);
    if (layer === undefined) {
      const values = this.param(table);
      const [inputDim, outputDim] = values.shape;
      layer = tf.layers.embedding({ name: this.layerName(table.replace(/\/table$/, "")), inputDim: inputDim!, outputDim: outputDim!, embeddingsInitializer: "zeros" });
      const y = this.applyWith(layer, ids, [values]);
      this.embeddings.set(table, layer);
      return y;
    }
    return layer.apply(ids) as tf.SymbolicTensor;
  }

  concat(path: string, xs: tf.SymbolicTensor[], axis = -1): tf.SymbolicTensor {
    const [first] = xs;
    if (first === undefined) throw new Error(`serving: ${path}: nothing to concatenate`);
    if (xs.length === 1) return first;
    return tf.layers.concatenate({ name: this.layerName(path), axis }).apply(xs) as tf.SymbolicTensor;
  }

  add(path: string, xs: tf.SymbolicTensor[]): tf.SymbolicTensor {
    return tf.layers.add({ name: this.layerName(path) }).apply(xs) as tf.SymbolicTensor;
  }

  multiply(path: string, xs: tf.SymbolicTensor[]): tf.SymbolicTensor {
    return tf.layers.multiply({ name: this.layerName(path) }).apply(xs) as tf.SymbolicTensor;
  }

  reshape(path: string, x: tf.SymbolicTensor, targetShape: number[]): tf.SymbolicTensor {
    return tf.layers.reshape({ name: this.layerName(path), targetShape }).apply(x) as tf.SymbolicTensor;
  }

  repeat(path: string, x: tf.SymbolicTensor, n: number): tf.SymbolicTensor {
    return tf.layers.repeatVector({ name: this.layerName(path), n }).apply(x) as tf.SymbolicTensor;
  }

  /** Σ over axis 1 of a[b, i, …] · c[b, i, …]: weighted sums over positions or experts. */
  dot(path: string, a: tf.SymbolicTensor, c: tf.SymbolicTensor): tf.SymbolicTensor {
    return tf.layers.dot({ name: this.layerName(path), axes: 1 }).apply([a, c]) as tf.SymbolicTensor;
  }
}

function width(x: tf.SymbolicTensor): number {
  const last = x.shape[x.shape.length - 1];
  if (typeof last !== "number") throw new Error("serving: a tensor of unknown width");
  return last;
}

/** The sequence layout FeatureFrontEnd derives from the schema (keys follow the shared columns). */
function sequenceLayouts(schema: PreparedSchema, sharedColumns: readonly string[]): SequenceLayout[] {
  return schema.sequences.map((seq) => {
    const byColumn = new Map(Object.entries(seq.elements).map(([element, column]) => [column, element]));
    const keyElements = sharedColumns.map((column): [string, string] => {
      const element = byColumn.get(column);
      if (element === undefined) throw new Error(`serving: sequence ${seq.name} lacks the shared feature '${column}'`);
      return [element, column];
    });
    const elements = Object.entries(seq.elements);
    const valueElements = elements.filter(([, column]) => !sharedColumns.includes(column));
    return { name: seq.name, maxlen: seq.maxlen, keyElements, valueElements, elements };
  });
}

function vocabularyOf(feature: PreparedFeature): VocabularyDescription {
  if (feature.type === "numeric") {
    return {
      column: feature.column,
      type: "numeric",
      size: feature.vocabSize,
      boundaries: feature.boundaries ?? [],
      ids: "0 = missing; otherwise 2 + the number of boundaries ≤ the value",
    };
  }
  return {
    column: feature.column,
    type: "categorical",
    size: feature.vocabSize,
    file: `vocab/${feature.column}.tsv`,
    ids: "0 = missing/padding, 1 = out-of-vocabulary, otherwise the value's idx in the vocabulary file",
  };
}

/** Columns of a feature group in schema order. */
function columnsOf(schema: PreparedSchema, group: FeatureGroup): string[] {
  return schema.features.filter((f) => f.group === group).map((f) => f.column);
}

const fieldSplit = (kernel: tf.Tensor2D, parts: number): tf.Tensor2D[] => tf.split(kernel, parts, 0) as tf.Tensor2D[];

/**
 * Builds the serving LayersModel of a fine-tuned TEM (weights copied from its variables, so the TEM
 * may be disposed afterwards) and its input/output description. `schema` is the prepared dataset's
 * schema the TEM was built for: it names the inputs and the sequences' elements.
 */
export function buildServing(tem: TargetEntityModel, schema: PreparedSchema, options: { preparedDir?: string } = {}): ServingModel {
  const params = tem.namedVariables();
  const g = new GraphBuilder(params, tem.name);
  const T = tem.name;
  const M = tem.mem.name;
  const userColumns = columnsOf(schema, "user");
  const sharedColumns = columnsOf(schema, "shared");
  const specificColumns = schema.entities.target.specificColumns;
  const sequences = sequenceLayouts(schema, sharedColumns);
  const features = new Map(schema.features.map((f) => [f.column, f]));
  const feature = (column: string): PreparedFeature => {
    const f = features.get(column);
    if (f === undefined) throw new Error(`serving: column '${column}' is not a schema feature`);
    return f;
  };
  const E = params.get(`${T}/features/emb/${userColumns[0]}/table`)?.shape[1];
  if (E === undefined) throw new Error(`serving: model '${T}' has no embedding table for '${userColumns[0]}'`);
  // Every table must have the schema's vocabulary size (a TEM built for another dataset fails here).
  for (const [name, variable] of params) {
    const match = /\/features\/emb\/(.+)\/table$/.exec(name);
    if (match === null) continue;
    const size = feature(match[1]!).vocabSize;
    if (variable.shape[0] !== size || variable.shape[1] !== E) {
      throw new Error(`serving: '${name}' is [${variable.shape.join(", ")}] but the schema's '${match[1]}' needs [${size}, ${E}]`);
    }
  }

  // Inputs, in this order: user, shared and target-specific features, then each sequence's elements and mask.
  const featureInput = (column: string): tf.SymbolicTensor => {
    const f = feature(column);
    return g.input({
      name: column,
      shape: [null, 1],
      dtype: "int32",
      kind: "feature",
      group: f.group,
      column,
      vocabulary: vocabularyOf(f),
      description: `id of the impression's ${f.name} (${f.group === "specific" ? `${schema.entities.target.name}-specific` : f.group} feature)`,
    });
  };
  for (const column of [...userColumns, ...sharedColumns, ...specificColumns]) featureInput(column);
  const sequenceInputs = new Map<string, { ids: Map<string, tf.SymbolicTensor>; mask: tf.SymbolicTensor }>();
  for (const seq of sequences) {
    const ids = new Map<string, tf.SymbolicTensor>();
    for (const [element, column] of seq.elements) {
      if (element === "mask") throw new Error(`serving: sequence ${seq.name} has an element named 'mask'`);
      const f = feature(column);
      ids.set(
        element,
        g.input({
          name: sequenceInputName(seq.name, element),
          shape: [null, seq.maxlen],
          dtype: "int32",
          kind: "sequence_element",
          sequence: seq.name,
          element,
          column,
          vocabulary: vocabularyOf(f),
          description: `${element} id of each element of ${seq.name} (the user's clicks, newest first), 0 at padding`,
        }),
      );
    }
    const mask = g.input({
      name: maskInputName(seq.name),
      shape: [null, seq.maxlen],
      dtype: "float32",
      kind: "sequence_mask",
      sequence: seq.name,
      description: `1 for the real elements of ${seq.name}, 0 for padding (real elements first: 1 at positions < length)`,
    });
    sequenceInputs.set(seq.name, { ids, mask });
  }

  /** Candidate fields [B, n·E] through model `m`'s embedding tables (field-major, as lookupFields + reshape). */
  const fields = (m: string, columns: readonly string[]): tf.SymbolicTensor =>
    g.concat(
      `${m}/${columns.join("+")}`,
      columns.map((column) => g.reshape(`${m}/${column}/flat`, g.embed(`${m}/features/emb/${column}/table`, featureInput(column)), [E])),
    );

  /** v_seq of model `m`: every sequence pooled by its DIN activation unit with `query` = v_shared. */
  const pooledSequences = (m: string, query: tf.SymbolicTensor): tf.SymbolicTensor => {
    const pooled = sequences.map((seq) => {
      const inputs = sequenceInputs.get(seq.name)!;
      const lookup = (elements: Array<[string, string]>, what: string): tf.SymbolicTensor =>
        g.concat(
          `${m}/${seq.name}/${what}`,
          elements.map(([element, column]) => g.embed(`${m}/features/emb/${column}/table`, inputs.ids.get(element)!)),
        ); // [B, L, n·E]
      const keys = lookup(seq.keyElements, "keys");
      const values = seq.valueElements.length === 0 ? keys : g.concat(`${m}/${seq.name}/values`, [keys, lookup(seq.valueElements, "items")]);
      const unit = `${m}/features/${seq.name}_attention`;
      const d = width(query);
      const q = g.repeat(`${unit}/query`, query, seq.maxlen);
      const features = g.concat(`${unit}/features`, [q, keys, g.multiply(`${unit}/q_times_k`, [q, keys])]);
      // The first Dense reads [q, k, q−k, q⊙k]; rewritten for [q, k, q⊙k].
      const hidden = g.count(`${unit}/mlp/dense`);
      const first = hidden > 0 ? `${unit}/mlp/dense0` : `${unit}/score`;
      const kernel = tf.tidy(() => {
        const [wq, wk, wd, wp] = fieldSplit(g.param(`${first}/kernel`) as tf.Tensor2D, 4) as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
        if (wq.shape[0] !== d) throw new Error(`serving: ${first} reads ${4 * wq.shape[0]} features, not 4 × ${d}`);
        return tf.concat([tf.add(wq, wd), tf.sub(wk, wd), wp], 0);
      });
      let h = g.dense(first, features, kernel, g.param(`${first}/bias`), hidden > 0 ? "relu" : "linear");
      for (let k = 1; k < hidden; k++) h = g.denseOf(`${unit}/mlp/dense${k}`, h, "relu");
      const scores = hidden > 0 ? g.denseOf(`${unit}/score`, h) : h; // [B, L, 1]
      const weights = g.multiply(`${unit}/masked`, [scores, g.reshape(`${unit}/mask`, inputs.mask, [seq.maxlen, 1])]);
      return g.reshape(`${unit}/pooled`, g.dot(`${unit}/sum`, weights, values), [width(values)]); // Σ_l w_l v_l
    });
    return g.concat(`${m}/features/v_seq`, pooled);
  };

  // ---- MEM, target path ----
  const memUser = fields(`${M}`, userColumns);
  const memShared = fields(`${M}`, sharedColumns);
  const memSeq = pooledSequences(M, memShared);
  const hfa = `${M}/hfa_target`;
  const x0 = fields(`${M}`, specificColumns); // flatten(v_spec^t) [B, n·E]
  const D = width(x0);
  let aligned: tf.SymbolicTensor;
  if (g.has(`${hfa}/cross/w0`)) {
    let x = x0;
    const layers = g.count(`${hfa}/cross/w`, "");
    for (let l = 0; l < layers; l++) {
      const w = g.param(`${hfa}/cross/w${l}`); // [D, 1]
      const xw = g.dense(`${hfa}/cross/xw${l}`, x, tf.tile(w, [1, D]), undefined, "linear", false); // x_lᵀ w_l in every column
      const xb = g.dense(`${hfa}/cross/plus_b${l}`, x, tf.eye(D), g.param(`${hfa}/cross/b${l}`), "linear", false); // x_l + b_l
      x = g.add(`${hfa}/cross/x${l + 1}`, [g.multiply(`${hfa}/cross/x0_xw${l}`, [x0, xw]), xb]);
    }
    const implicit = g.denseOf(`${hfa}/implicit`, x0, "relu");
    const interactions = g.concat(`${hfa}/interactions`, [x, implicit]);
    // sigmoid(FC) per field, repeated E times: column f·E + e of the kernel is column f of FC's.
    const n = specificColumns.length;
    const repeatColumns = (t: tf.Tensor): tf.Tensor => tf.tidy(() => tf.reshape(tf.tile(t.reshape([-1, n, 1]), [1, 1, E]), [-1, n * E]));
    const importanceKernel = repeatColumns(g.param(`${hfa}/importance/kernel`));
    const importanceBias = tf.tidy(() => repeatColumns(g.param(`${hfa}/importance/bias`)).reshape([n * E]));
    const half = g.dense(`${hfa}/importance`, interactions, importanceKernel, importanceBias, "sigmoid"); // p/2, per element
    const scaled = g.multiply(`${hfa}/scaled`, [x0, half]);
    aligned = g.dense(`${hfa}/align`, scaled, tf.mul(g.param(`${hfa}/align/kernel`), 2), g.param(`${hfa}/align/bias`), "relu");
  } else {
    aligned = g.denseOf(`${hfa}/align`, x0, "relu"); // the w/o HFA ablation
  }
  const q = g.concat(`${M}/q_target`, [memUser, memSeq, memShared, aligned]);

  // CKE (PLE), target path: target experts on the task input, shared experts on the shared input.
  const cke = `${M}/cke`;
  const levels = g.count(`${cke}/level`, "/target_gate/kernel");
  if (levels === 0) throw new Error(`serving: model '${M}' has no CKE levels`);
  let task = q;
  let shared = q;
  for (let i = 0; i < levels; i++) {
    const level = `${cke}/level${i}`;
    const experts = [
      ...Array.from({ length: g.count(`${level}/target_expert`, "/dense0/kernel") }, (_, j) => g.mlpOf(`${level}/target_expert${j}`, task)),
      ...Array.from({ length: g.count(`${level}/shared_expert`, "/dense0/kernel") }, (_, j) => g.mlpOf(`${level}/shared_expert${j}`, shared)),
    ];
    const stacked = g.concat(
      `${level}/experts`,
      experts.map((e, j) => g.reshape(`${level}/expert${j}/row`, e, [1, width(e)])),
      1,
    ); // [B, n, out]
    const gate = g.denseOf(`${level}/target_gate`, task, "softmax");
    const nextTask = g.dot(`${level}/target_mix`, gate, stacked);
    if (g.has(`${level}/shared_gate/kernel`)) shared = g.dot(`${level}/shared_mix`, g.denseOf(`${level}/shared_gate`, shared, "softmax"), stacked);
    task = nextTask;
  }
  const memCommon = task; // g_com^t

  // ---- TEM ----
  const glu = (key: string, x: tf.SymbolicTensor): tf.SymbolicTensor =>
    g.multiply(`${T}/glu_${key}`, [g.denseOf(`${T}/glu_${key}/value`, x), g.denseOf(`${T}/glu_${key}/gate`, x, "sigmoid")]);
  const fused = (key: string, own: tf.SymbolicTensor, mem: tf.SymbolicTensor): tf.SymbolicTensor => g.add(`${T}/${key}_final`, [own, glu(key, mem)]);
  const temShared = fields(`${T}`, sharedColumns);
  const temInput = g.concat(`${T}/cross_input`, [
    fused("user", fields(`${T}`, userColumns), memUser),
    fused("seq", pooledSequences(T, temShared), memSeq),
    fused("shared", temShared, memShared),
    fields(`${T}`, specificColumns),
  ]);
  let crossFinal = fused("common", g.mlpOf(`${T}/cross`, temInput), memCommon);
  if (g.has(`${T}/glu_independent/value/kernel`)) {
    // tem.knowledge common+target: MEM's g_ind^t = TKE([v_u ‖ v_seq ‖ v_shared ‖ flatten(v_spec^t)]) joins through its own GLU.
    const memIndependent = g.mlpOf(`${M}/tke`, g.concat(`${M}/v_target`, [memUser, memSeq, memShared, x0]));
    crossFinal = g.add(`${T}/independent_final`, [crossFinal, glu("independent", memIndependent)]);
  }
  const headHidden = g.mlpOf(`${T}/head/hidden`, crossFinal);
  const output = g.dense(OUTPUT_NAME, headHidden, g.param(`${T}/head/logit/kernel`), g.param(`${T}/head/logit/bias`), "sigmoid");

  const model = tf.model({ inputs: g.inputs, outputs: output, name: "mkt_serving" });
  const description: ServingDescription = {
    format: "mkt-serving",
    version: 1,
    model:
      `MKT's fine-tuned target entity model (TEM) with the parts of its frozen multi-entity model (MEM) the target path uses: ` +
      `click probability of ${schema.entities.target.name} impressions`,
    modelFile: MODEL_FILE,
    weightsFile: WEIGHTS_FILE,
    dataset: schema.dataset,
    ...(options.preparedDir !== undefined ? { preparedDir: options.preparedDir } : {}),
    entity: schema.entities.target.name,
    inputs: g.inputDescriptions,
    output: {
      name: OUTPUT_NAME,
      shape: [null, 1],
      dtype: "float32",
      description: `click probability sigmoid(logit) of each row, read as a ${schema.entities.target.name} (target-entity) impression`,
    },
    usage: USAGE,
  };
  return { model, description };
}

/** The serving LayersModel of a fine-tuned TEM (see buildServing). */
export function buildServingModel(tem: TargetEntityModel, schema: PreparedSchema): tf.LayersModel {
  return buildServing(tem, schema).model;
}

const USAGE = [
  "Plain @tensorflow/tfjs, no mkt code. Browser: const model = await tf.loadLayersModel('<url>/model.json').",
  "Node without tfjs-node: const json = JSON.parse(fs.readFileSync('model.json', 'utf8')); const bin = fs.readFileSync('weights.bin'); " +
    "const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, " +
    "weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength) })).",
  "Node with @tensorflow/tfjs-node: tf.loadLayersModel('file:///abs/path/model.json').",
  "Predict: model.predict(inputs) with one tensor per entry of `inputs`, in that order (model.inputNames): features int32 [B, 1] " +
    "(a [B] tensor is accepted and expanded), sequence elements int32 [B, maxlen] (0 at padding), masks float32 [B, maxlen]. " +
    "The output is [B, 1] click probabilities.",
  "Ids are those of the prepared dataset (vocabulary files under its vocab/ directory, see each input's vocabulary).",
];

function readme(description: ServingDescription): string {
  const rows = description.inputs.map(
    (i) => `| ${i.name} | ${i.dtype}[${i.shape.map((d) => d ?? "B").join(", ")}] | ${i.kind} | ${i.column ?? ""} | ${i.vocabulary ? String(i.vocabulary.size) : ""} |`,
  );
  return [
    "# MKT serving model",
    "",
    `${description.model} (dataset ${description.dataset}).`,
    "",
    "## Loading",
    "",
    "Browser (plain `@tensorflow/tfjs`):",
    "",
    "```js",
    'const model = await tf.loadLayersModel("https://…/serving/model.json");',
    "```",
    "",
    "Node, plain `@tensorflow/tfjs` (no file system handler):",
    "",
    "```js",
    'import * as tf from "@tensorflow/tfjs";',
    'import { readFile } from "node:fs/promises";',
    'const json = JSON.parse(await readFile("serving/model.json", "utf8"));',
    'const bin = await readFile("serving/weights.bin");',
    "const model = await tf.loadLayersModel(tf.io.fromMemory({",
    "  modelTopology: json.modelTopology,",
    "  weightSpecs: json.weightsManifest[0].weights,",
    "  weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),",
    "}));",
    "```",
    "",
    "With `@tensorflow/tfjs-node`: `await tf.loadLayersModel(\"file:///abs/path/serving/model.json\")`.",
    "",
    "## Calling",
    "",
    "`model.predict([...])` with one tensor per input below, in this order (`model.inputNames`); the output",
    `\`${description.output.name}\` is [B, 1]: ${description.output.description}. Masks are 1 for real sequence`,
    "elements and 0 for padding. Ids follow the prepared dataset's vocabularies (0 = missing/padding,",
    "1 = out-of-vocabulary); `inputs.json` has the details of every input.",
    "",
    "| input | dtype[shape] | kind | vocabulary column | vocabulary size |",
    "|---|---|---|---|---|",
    ...rows,
    "",
  ].join("\n");
}

/** The parts of a saved LayersModel: model.json's object and weights.bin's bytes. */
export interface ServingArtifacts {
  modelJson: tf.io.ModelJSON;
  weights: Uint8Array;
}

/** Serializes a LayersModel in the standard tfjs format, with weightsManifest paths → `weights.bin`. */
export async function serializeModel(model: tf.LayersModel): Promise<ServingArtifacts> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
    }),
  );
  if (saved === undefined || saved.modelTopology === undefined || saved.weightSpecs === undefined || saved.weightData === undefined) {
    throw new Error("serving: tfjs saved no topology or weights");
  }
  const modelJson: tf.io.ModelJSON = {
    modelTopology: saved.modelTopology,
    format: saved.format ?? "layers-model",
    generatedBy: saved.generatedBy ?? `TensorFlow.js tfjs-layers v${tf.version.tfjs}`,
    convertedBy: saved.convertedBy ?? null,
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights: saved.weightSpecs }],
  };
  return { modelJson, weights: new Uint8Array(tf.io.CompositeArrayBuffer.join(saved.weightData)) };
}

export interface ExportResult {
  dir: string;
  files: string[];
  description: ServingDescription;
  /** Size of weights.bin in bytes. */
  weightBytes: number;
}

/**
 * Writes the serving model of a fine-tuned TEM to `dir`: model.json, weights.bin, inputs.json and
 * README.md. The directory is built under a temporary name and renamed into place, so `dir` is
 * either the previous export or the complete new one.
 */
export async function exportServingModel(
  tem: TargetEntityModel,
  schema: PreparedSchema,
  dir: string,
  options: { preparedDir?: string } = {},
): Promise<ExportResult> {
  const { model, description } = buildServing(tem, schema, options);
  try {
    const { modelJson, weights } = await serializeModel(model);
    await buildDirAtomic(dir, async (tmp) => {
      await writeFileAtomic(join(tmp, MODEL_FILE), JSON.stringify(modelJson) + "\n");
      await writeFileAtomic(join(tmp, WEIGHTS_FILE), weights);
      await writeFileAtomic(join(tmp, INPUTS_FILE), JSON.stringify(description, null, 2) + "\n");
      await writeFileAtomic(join(tmp, README_FILE), readme(description));
    });
    return { dir, files: [MODEL_FILE, WEIGHTS_FILE, INPUTS_FILE, README_FILE], description, weightBytes: weights.byteLength };
  } finally {
    disposeServingModel(model);
  }
}

/**
 * Disposes a serving model (built or loaded) with all its weights. tfjs' model.dispose() leaves the
 * weights of a layer applied more than once (each embedding table shared by a candidate feature and
 * sequence elements) alive: their reference count grows with every use, so they are released here.
 */
export function disposeServingModel(model: tf.LayersModel): void {
  model.dispose();
  for (const layer of model.layers) {
    for (let left = 1; left > 0; ) {
      try {
        left = layer.dispose().refCountAfterDispose;
      } catch {
        break; // already disposed (or an input layer, which holds nothing)
      }
    }
  }
}

/** Loads an exported model with plain tfjs from the bytes of model.json and weights.bin (what USAGE shows). */
export async function loadServingModel(modelJsonText: string, weights: Uint8Array): Promise<tf.LayersModel> {
  const json = JSON.parse(modelJsonText) as tf.io.ModelJSON;
  const manifest = json.weightsManifest?.[0];
  if (manifest === undefined) throw new Error("serving: model.json has no weightsManifest");
  const weightData = weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer;
  return tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: manifest.weights, weightData }));
}

function isBatchTensors(batch: Batch | BatchTensors): batch is BatchTensors {
  return "order" in batch;
}

/**
 * The serving model's inputs for a batch, by input name: every feature column as int32 [B, 1], every
 * sequence element as int32 [B, L] and every sequence's mask as float32 [B, L] (or only `names`).
 * Rows keep the order of the argument: a reader Batch's own order, or a BatchTensors' tensor order
 * (source rows first, as predictTarget returns them). The tensors are new: the caller disposes them.
 */
export function servingInputs(batch: Batch | BatchTensors, names?: readonly string[]): Record<string, tf.Tensor> {
  const wanted = names === undefined ? undefined : new Set(names);
  const want = (name: string): boolean => wanted === undefined || wanted.has(name);
  const out: Record<string, tf.Tensor> = {};
  const n = batch.size;
  if (isBatchTensors(batch)) {
    for (const [column, ids] of Object.entries(batch.features)) if (want(column)) out[column] = ids.reshape([n, 1]);
    for (const [name, seq] of Object.entries(batch.sequences)) {
      for (const [element, ids] of Object.entries(seq.ids)) if (want(sequenceInputName(name, element))) out[sequenceInputName(name, element)] = tf.clone(ids);
      if (want(maskInputName(name))) out[maskInputName(name)] = tf.clone(seq.mask);
    }
  } else {
    for (const [column, ids] of Object.entries(batch.features)) if (want(column)) out[column] = tf.tensor2d(ids, [n, 1], "int32");
    for (const [name, seq] of Object.entries(batch.sequences)) {
      const L = seq.maxlen;
      for (const [element, ids] of Object.entries(seq.ids)) if (want(sequenceInputName(name, element))) out[sequenceInputName(name, element)] = tf.tensor2d(ids, [n, L], "int32");
      if (want(maskInputName(name))) {
        const mask = new Float32Array(n * L);
        for (let i = 0; i < n; i++) mask.fill(1, i * L, i * L + Math.min(seq.length[i]!, L));
        out[maskInputName(name)] = tf.tensor2d(mask, [n, L]);
      }
    }
  }
  if (wanted !== undefined) {
    const missing = [...wanted].filter((name) => out[name] === undefined);
    if (missing.length) {
      tf.dispose(Object.values(out));
      throw new Error(`serving: the batch lacks the inputs ${missing.join(", ")}`);
    }
  }
  return out;
}

/** Click probabilities [B] of a batch from a serving model (loaded or built), rows in the batch's order. */
export function predictServing(model: tf.LayersModel, batch: Batch | BatchTensors): tf.Tensor1D {
  const named = servingInputs(batch, model.inputNames);
  try {
    const output = model.predict(model.inputNames.map((name) => named[name]!), { batchSize: Math.max(1, batch.size) }) as tf.Tensor;
    const probabilities = output.reshape([-1]) as tf.Tensor1D;
    output.dispose();
    return probabilities;
  } finally {
    tf.dispose(Object.values(named));
  }
}
