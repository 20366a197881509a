import { tf } from "../engine/index.ts";
import { attr, OP_MAPPINGS, tensorShape, tfDtype, type GraphNode, type MappedOp, type OpContext } from "./ops.ts";
import type { Trace, TracedCall, TracedSource } from "./trace.ts";

/** One input the graph may take: a batch tensor, its batch dimension (the first) written -1. */
export interface GraphInput {
  name: string;
  dtype: "int32" | "float32";
  shape: number[];
}

/** The GraphDef JSON of model.json's modelTopology (format "graph-model"). */
export interface GraphDefJson {
  node: GraphNode[];
  library: Record<string, never>;
  versions: { producer: number };
}

export interface ExportedGraph {
  topology: GraphDefJson;
  /** One entry per Const node (model variables and the forward pass's constants), in weightData's order. */
  weightSpecs: tf.io.WeightsManifestEntry[];
  weightData: Uint8Array;
  /** The Placeholders: the inputs the forward pass read, in the order of the `inputs` given. */
  inputs: GraphInput[];
  /** Logical names of the model variables the graph holds. */
  variables: string[];
  /** Nodes per TensorFlow op (Placeholder and Const included). */
  opCounts: Record<string, number>;
}

/** A node reference: "name" for output 0, "name:k" for output k (TensorFlow's convention). */
function ref(node: string, output: number): string {
  return output === 0 ? node : `${node}:${output}`;
}

function sameValues(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

/**
 * Builds the GraphDef of a forward pass from two traces of it at different batch sizes. The traces
 * must run the same kernels on the same variables, inputs and constants; attributes that differ
 * are batch dimensions, which the op's mapping turns into -1 where TensorFlow can express it, and
 * an error otherwise. `model` names the model in every error. Variables become Const nodes named
 * after their logical names, with their current values as weights; the traced batch inputs become
 * Placeholders; the result is the Identity node `outputName`.
 */
export function buildGraph(
  model: string,
  traces: [Trace, Trace],
  variables: ReadonlyMap<string, tf.Variable>,
  inputs: readonly GraphInput[],
  outputName: string,
): ExportedGraph {
  const [a, b] = traces;
  const fail = (message: string): never => {
    throw new Error(`export of '${model}': ${message}`);
  };
  if (a.calls.length !== b.calls.length) fail(`the forward pass runs ${a.calls.length} kernels at one batch size and ${b.calls.length} at another`);

  const nodes: GraphNode[] = [];
  const names = new Set<string>();
  const weights: Array<{ name: string; shape: number[]; dtype: "float32" | "int32"; values: Float32Array | Int32Array }> = [];
  const addNode = (node: GraphNode): string => {
    if (names.has(node.name)) fail(`two nodes are named '${node.name}'`);
    names.add(node.name);
    nodes.push(node);
    return node.name;
  };
  const addConst = (name: string, dtype: "float32" | "int32", shape: number[], values: Float32Array | Int32Array): string => {
    weights.push({ name, shape, dtype, values });
    return addNode({ name, op: "Const", input: [], attr: { dtype: attr.dtype(dtype), value: { tensor: { dtype: tfDtype(dtype), tensorShape: tensorShape(shape) } } } });
  };

  // Placeholders first, in the given order, for the inputs the pass read.
  const read = new Set<string>();
  for (const call of a.calls) for (const input of call.inputs) if (input.source.kind === "input") read.add(input.source.name);
  const graphInputs = inputs.filter((i) => read.has(i.name));
  const unknown = [...read].filter((name) => !inputs.some((i) => i.name === name));
  if (unknown.length) fail(`the forward pass reads ${unknown.join(", ")}, which a served model is not given`);
  for (const input of graphInputs) addNode({ name: input.name, op: "Placeholder", input: [], attr: { dtype: attr.dtype(input.dtype), shape: attr.shape(input.shape) } });

  const variableNodes = new Map<string, string>();
  const constantNodes = new Map<number, string>();
  const callNodes: string[] = [];
  const sourceRef = (source: TracedSource): string => {
    switch (source.kind) {
      case "call":
        return ref(callNodes[source.call]!, source.output);
      case "input":
        return source.name;
      case "variable": {
        let node = variableNodes.get(source.name);
        if (node === undefined) {
          const variable = variables.get(source.name)!;
          if (variable.dtype !== "float32" && variable.dtype !== "int32") fail(`variable '${source.name}' is ${variable.dtype}`);
          node = addConst(source.name, variable.dtype as "float32" | "int32", [...variable.shape], (variable.dataSync() as Float32Array | Int32Array).slice());
          variableNodes.set(source.name, node);
        }
        return node;
      }
      case "constant": {
        let node = constantNodes.get(source.id);
        if (node === undefined) {
          node = addConst(`const/${constantNodes.size}`, source.dtype as "float32" | "int32", source.shape, source.values);
          constantNodes.set(source.id, node);
        }
        return node;
      }
    }
  };

  a.calls.forEach((call, index) => {
    const other = b.calls[index]!;
    const where = `kernel #${index} (${call.kernel})`;
    const callFail = (message: string): never => fail(`${where}: ${message}`);
    compareCalls(call, other, callFail);
    const mapping = OP_MAPPINGS[call.kernel];
    if (mapping === undefined) callFail(`tfjs kernel '${call.kernel}' has no TensorFlow op mapping in src/export/ops.ts`);
    const name = `op/${index}/${call.kernel}`;
    const generalised = new Set<string>();
    const sameAttr = (key: string): void => {
      if (!sameJson(call.attrs[key], other.attrs[key])) callFail(`attribute ${key} depends on the batch size (${JSON.stringify(call.attrs[key])} vs ${JSON.stringify(other.attrs[key])})`);
    };
    const context: OpContext = {
      name,
      inputs: call.inputs.map((i) => sourceRef(i.source)),
      inputNames: call.inputs.map((i) => i.name),
      inputShapes: call.inputs.map((i) => i.shape),
      inputDtypes: call.inputs.map((i) => i.dtype),
      otherInputShapes: other.inputs.map((i) => i.shape),
      outputShapes: call.outputs.map((o) => o.shape),
      otherOutputShapes: other.outputs.map((o) => o.shape),
      attr: <T,>(key: string): T => {
        sameAttr(key);
        return call.attrs[key] as T;
      },
      attrPair: <T,>(key: string): [T, T] => {
        generalised.add(key);
        return [call.attrs[key] as T, other.attrs[key] as T];
      },
      constInt: (suffix, values, scalar = false) => addConst(`${name}/${suffix}`, "int32", scalar ? [] : [values.length], Int32Array.from(values)),
      fail: callFail,
    };
    const mapped: MappedOp = mapping!(context);
    for (const key of Object.keys(call.attrs)) if (!generalised.has(key)) sameAttr(key);
    callNodes.push(addNode({ name, op: mapped.op, input: mapped.input, attr: mapped.attr ?? {} }));
  });

  if (!sameJson(a.result, b.result)) fail("the two traces return different tensors");
  if (a.result.kind !== "call") fail(`the forward pass returns a ${a.result.kind}, not a computed tensor`);
  addNode({ name: outputName, op: "Identity", input: [sourceRef(a.result)], attr: {} });

  const weightSpecs = weights.map((w) => ({ name: w.name, shape: w.shape, dtype: w.dtype }));
  const weightData = new Uint8Array(weights.reduce((n, w) => n + w.values.byteLength, 0));
  let offset = 0;
  for (const w of weights) {
    weightData.set(new Uint8Array(w.values.buffer, w.values.byteOffset, w.values.byteLength), offset);
    offset += w.values.byteLength;
  }
  const opCounts: Record<string, number> = {};
  for (const node of nodes) opCounts[node.op] = (opCounts[node.op] ?? 0) + 1;
  return {
    topology: { node: nodes, library: {}, versions: { producer: 1 } },
    weightSpecs,
    weightData,
    inputs: graphInputs,
    variables: [...variableNodes.keys()],
    opCounts,
  };
}

function sameJson(x: unknown, y: unknown): boolean {
  return JSON.stringify(x) === JSON.stringify(y);
}

/** Both traces' call number i must be the same kernel on the same sources (constants equal by value). */
function compareCalls(a: TracedCall, b: TracedCall, fail: (message: string) => never): void {
  if (a.kernel !== b.kernel) fail(`the other trace runs ${b.kernel} here`);
  if (a.inputs.length !== b.inputs.length || a.outputs.length !== b.outputs.length) fail("its inputs or outputs differ between the traces");
  a.inputs.forEach((input, k) => {
    const x = input.source;
    const y = b.inputs[k]!.source;
    if (input.name !== b.inputs[k]!.name || x.kind !== y.kind) fail(`input ${input.name} comes from different places in the two traces`);
    if (x.kind === "constant" && y.kind === "constant") {
      if (!sameJson(x.shape, y.shape) || x.dtype !== y.dtype || !sameValues(x.values, y.values)) {
        fail(`input ${input.name} is a constant that depends on the batch size ([${x.shape.join(", ")}] vs [${y.shape.join(", ")}]): a served model cannot hold it`);
      }
    } else if (!sameJson(x, y)) {
      fail(`input ${input.name} comes from different places in the two traces`);
    }
  });
}
