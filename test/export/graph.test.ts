import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildGraph, type GraphInput } from "../../src/export/graph.ts";
import { OP_MAPPINGS } from "../../src/export/ops.ts";
import { traceForward, type Trace } from "../../src/export/trace.ts";
import { mulberry32 } from "../../src/util/random.ts";

/**
 * The tracer and the op mappings, op by op: a small forward pass over placeholder inputs is traced
 * at two batch sizes, written as a GraphDef, loaded with tfjs's own tf.loadGraphModel and run at
 * two other batch sizes; it must give tfjs's own result. Every kernel of OP_MAPPINGS is covered.
 */

type Forward = (x: Record<string, tf.Tensor>) => tf.Tensor;

/** A test input: its name, dtype, shape (first dimension the batch) and how its values are drawn. */
interface InputSpec {
  name: string;
  dtype: "float32" | "int32";
  shape: number[];
  /** Values: uniform in [low, high) (floats) or [0, high) integers. */
  low?: number;
  high?: number;
}

function makeInputs(specs: readonly InputSpec[], rows: number, seed: number): Record<string, tf.Tensor> {
  const random = mulberry32(seed);
  return Object.fromEntries(
    specs.map((s) => {
      const shape = [rows, ...s.shape.slice(1)];
      const n = shape.reduce((a, b) => a * b, 1);
      const low = s.low ?? -2;
      const high = s.high ?? 2;
      const values = s.dtype === "int32" ? Int32Array.from({ length: n }, () => Math.floor(random() * high)) : Float32Array.from({ length: n }, () => low + random() * (high - low));
      return [s.name, tf.tensor(values, shape, s.dtype)];
    }),
  );
}

function trace(forward: Forward, specs: readonly InputSpec[], variables: Map<string, tf.Variable>, rows: number): Trace {
  const inputs = makeInputs(specs, rows, rows);
  try {
    return traceForward(() => forward(inputs), variables, new Map(Object.entries(inputs)));
  } finally {
    tf.dispose(Object.values(inputs));
  }
}

const graphInputs = (specs: readonly InputSpec[]): GraphInput[] => specs.map((s) => ({ name: s.name, dtype: s.dtype, shape: [-1, ...s.shape.slice(1)] }));

/** Kernels seen by the round trips (to check that every mapping is exercised). */
const covered = new Set<string>();

/** Traces `forward` at batch 3 and 5, loads the graph with tf.loadGraphModel, compares at batch 1 and 7. */
async function roundTrip(label: string, forward: Forward, specs: readonly InputSpec[], variables = new Map<string, tf.Variable>(), tolerance = 0): Promise<string[]> {
  const traces: [Trace, Trace] = [trace(forward, specs, variables, 3), trace(forward, specs, variables, 5)];
  for (const call of traces[0].calls) covered.add(call.kernel);
  const graph = buildGraph(label, traces, variables, graphInputs(specs), "out");
  const model = await tf.loadGraphModel(
    tf.io.fromMemory({ modelTopology: graph.topology, weightSpecs: graph.weightSpecs, weightData: graph.weightData.slice().buffer }),
  );
  try {
    for (const rows of [1, 7]) {
      const inputs = makeInputs(specs, rows, 100 + rows);
      const feed = Object.fromEntries(graph.inputs.map((i) => [i.name, inputs[i.name]!]));
      const got = model.execute(feed, "out") as tf.Tensor;
      const want = tf.tidy(() => forward(inputs));
      expect(got.shape, `${label} at batch ${rows}`).toEqual(want.shape);
      expect(got.dtype, label).toBe(want.dtype);
      const a = await got.data();
      const b = await want.data();
      const diff = Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
      expect(diff, `${label} at batch ${rows}`).toBeLessThanOrEqual(tolerance);
      tf.dispose([got, want, ...Object.values(inputs)]);
    }
  } finally {
    model.dispose();
  }
  return graph.topology.node.filter((n) => n.op !== "Const" && n.op !== "Placeholder").map((n) => n.op);
}

const X: InputSpec = { name: "x", dtype: "float32", shape: [-1, 4] };
const Y: InputSpec = { name: "y", dtype: "float32", shape: [-1, 4] };
const POSITIVE: InputSpec = { name: "x", dtype: "float32", shape: [-1, 4], low: 0.1, high: 3 };
const SEQ: InputSpec = { name: "seq", dtype: "float32", shape: [-1, 3, 4] };

describe("export: traced kernels → GraphDef → tf.loadGraphModel", () => {
  const variables = new Map<string, tf.Variable>();
  beforeAll(async () => {
    await tf.setBackend("cpu");
    const random = mulberry32(5);
    const make = (name: string, shape: number[]) => variables.set(name, tf.variable(tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => random() - 0.5), shape), true, `export-test/${name}`));
    make("table", [10, 3]);
    make("kernel", [4, 5]);
    make("bias", [5]);
    make("alpha", [5]);
  });
  afterAll(() => tf.dispose([...variables.values()]));

  const unary: Array<[string, (x: tf.Tensor) => tf.Tensor, InputSpec?]> = [
    ["Abs", tf.abs],
    ["Ceil", tf.ceil],
    ["Elu", tf.elu],
    ["Erf", tf.erf],
    ["Exp", tf.exp],
    ["Floor", tf.floor],
    ["Log", tf.log, POSITIVE],
    ["Log1p", tf.log1p, POSITIVE],
    ["Neg", tf.neg],
    ["Reciprocal", tf.reciprocal, POSITIVE],
    ["Relu", tf.relu],
    ["Relu6", (x) => tf.relu6(tf.mul(x, 4))],
    ["Round", tf.round],
    ["Rsqrt", tf.rsqrt, POSITIVE],
    ["Selu", tf.selu],
    ["Sigmoid", tf.sigmoid],
    ["Sign", tf.sign],
    ["Softplus", tf.softplus],
    ["Sqrt", tf.sqrt, POSITIVE],
    ["Square", tf.square],
    ["Tanh", tf.tanh],
    ["Identity", (x) => tf.clone(x)],
    ["LeakyRelu", (x) => tf.leakyRelu(x, 0.3)],
    ["Softmax", (x) => tf.softmax(x)],
    ["ZerosLike", (x) => tf.add(tf.zerosLike(x), x)],
    ["OnesLike", (x) => tf.mul(tf.onesLike(x), x)],
  ];
  for (const [kernel, op, spec] of unary) {
    it(`${kernel}`, async () => {
      const ops = await roundTrip(kernel, (x) => op(x["x"]!), [spec ?? X]);
      expect(ops).toContain(kernel);
    });
  }

  const binary: Array<[string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, string]> = [
    ["Add", tf.add, "AddV2"],
    ["Sub", tf.sub, "Sub"],
    ["Multiply", tf.mul, "Mul"],
    ["RealDiv", (a, b) => tf.div(a, tf.add(tf.abs(b), 0.5)), "RealDiv"],
    ["Maximum", tf.maximum, "Maximum"],
    ["Minimum", tf.minimum, "Minimum"],
    ["Pow", (a, b) => tf.pow(tf.abs(a), b), "Pow"],
    ["SquaredDifference", tf.squaredDifference, "SquaredDifference"],
    ["AddN", (a, b) => tf.addN([a, b, a]), "AddN"],
    ["Equal", (a, b) => tf.cast(tf.equal(tf.round(a), tf.round(b)), "float32"), "Equal"],
    ["Greater", (a, b) => tf.where(tf.greater(a, b), a, b), "Greater"],
    ["GreaterEqual", (a, b) => tf.cast(tf.greaterEqual(a, b), "float32"), "GreaterEqual"],
    ["Less", (a, b) => tf.cast(tf.less(a, b), "float32"), "Less"],
    ["LessEqual", (a, b) => tf.cast(tf.lessEqual(a, b), "float32"), "LessEqual"],
    ["Select", (a, b) => tf.where(tf.less(a, b), a, tf.neg(b)), "SelectV2"],
    ["Cast", (a) => tf.cast(tf.cast(tf.mul(a, 3), "int32"), "float32"), "Cast"],
    ["broadcast with a scalar and a row", (a, b) => tf.add(tf.mul(a, 2), tf.sum(b, 0)), "Mul"],
  ];
  for (const [label, op, tfOp] of binary) {
    it(`${label}`, async () => {
      expect(await roundTrip(label, (x) => op(x["x"]!, x["y"]!), [X, Y])).toContain(tfOp);
    });
  }

  it("Sum, Mean, Prod, Min, Max over one axis, several axes and all, with and without keepDims", async () => {
    const forward: Forward = (x) => {
      const s = x["seq"]!;
      const parts = [
        tf.sum(s, 1),
        tf.mean(s, [1, 2], true).reshape([-1, 1]),
        tf.prod(tf.add(s, 1), 2).reshape([-1, 3]),
        tf.min(s, -1),
        tf.max(s, 1),
        tf.add(tf.sum(s, 2), tf.sum(s)),
      ];
      return tf.concat(parts.map((p) => p.reshape([s.shape[0]!, -1])), 1);
    };
    const ops = await roundTrip("reductions", forward, [SEQ], undefined, 1e-5);
    for (const op of ["Sum", "Mean", "Prod", "Min", "Max", "ConcatV2", "Reshape"]) expect(ops).toContain(op);
  });

  it("Reshape with the batch size written out next to a -1, ExpandDims, Transpose, Tile, Pack, Unpack, SplitV, Slice", async () => {
    const forward: Forward = (x) => {
      const s = x["seq"]!;
      const n = s.shape[0]!;
      const flat = s.reshape([n, -1]); // [n, 12]: batch size and -1
      const moved = tf.transpose(s, [0, 2, 1]).reshape([n, 12]);
      const tiled = tf.tile(tf.expandDims(tf.sum(s, [1, 2]), 1), [1, 3]);
      const [first, rest] = tf.split(flat, [5, 7], 1);
      const rows = tf.unstack(s, 1); // 3 × [n, 4]
      const stacked = tf.stack([rows[2]!, rows[0]!], 2).reshape([n, 8]);
      const sliced = tf.slice(s, [0, 1, 0], [n, 2, 3]).reshape([n, 6]); // whole batch, written as its size
      const tail = tf.slice(flat, [0, 4], [-1, -1]);
      return tf.concat([flat, moved, tiled, first!, rest!, stacked, sliced, tail], 1);
    };
    const ops = await roundTrip("shapes", forward, [SEQ]);
    for (const op of ["Reshape", "Transpose", "ExpandDims", "Tile", "SplitV", "Unpack", "Pack", "Slice"]) expect(ops).toContain(op);
  });

  it("GatherV2 on a variable, BatchMatMul (transposed operands), _FusedMatMul with bias and relu, sigmoid, prelu; Prelu", async () => {
    const table = variables.get("table")!;
    const kernel = variables.get("kernel")! as tf.Tensor2D;
    const bias = variables.get("bias")!;
    const alpha = variables.get("alpha")!;
    const forward: Forward = (x) => {
      const ids = x["ids"]!;
      const n = ids.shape[0]!;
      const rows = tf.gather(table, ids.reshape([-1])).reshape([n, 2, 3]); // [n, 2, 3]
      const bmm = tf.matMul(rows, rows, true, false).reshape([n, 9]); // [n, 3, 3]
      const bmm2 = tf.matMul(rows, rows, false, true).reshape([n, 4]);
      const dense = (activation: "relu" | "sigmoid" | "prelu" | "linear") =>
        tf.fused.matMul({ a: x["x"]! as tf.Tensor2D, b: kernel, bias, activation, ...(activation === "prelu" ? { preluActivationWeights: alpha } : {}) });
      return tf.concat([bmm, bmm2, dense("relu"), dense("sigmoid"), dense("prelu"), dense("linear"), tf.prelu(x["x"]!, tf.slice(alpha, 0, 4))], 1);
    };
    const ids: InputSpec = { name: "ids", dtype: "int32", shape: [-1, 2], high: 10 };
    const ops = await roundTrip("matmuls", forward, [X, ids], variables, 1e-6);
    for (const op of ["GatherV2", "BatchMatMulV2", "_FusedMatMul", "Prelu"]) expect(ops).toContain(op);
  });

  it("covers every kernel of OP_MAPPINGS", () => {
    expect([...covered].filter((k) => !(k in OP_MAPPINGS))).toEqual([]);
    expect(Object.keys(OP_MAPPINGS).filter((k) => !covered.has(k)).sort()).toEqual([]);
  });

  it("names a graph's inputs after the batch tensors it read, in the order given, and leaves out the unread ones", () => {
    const specs = [X, Y, SEQ];
    const traces: [Trace, Trace] = [trace((x) => tf.add(x["y"]!, 1), specs, variables, 3), trace((x) => tf.add(x["y"]!, 1), specs, variables, 5)];
    const graph = buildGraph("inputs", traces, variables, graphInputs(specs), "out");
    expect(graph.inputs).toEqual([{ name: "y", dtype: "float32", shape: [-1, 4] }]);
    expect(graph.topology.node.filter((n) => n.op === "Placeholder").map((n) => n.name)).toEqual(["y"]);
  });

  it("fails loudly on a kernel without a mapping, naming the kernel and the model", () => {
    const forward: Forward = (x) => tf.cumsum(x["x"]!, 1);
    expect(() => buildGraph("some-model", [trace(forward, [X], variables, 3), trace(forward, [X], variables, 5)], variables, graphInputs([X]), "out")).toThrow(
      /export of 'some-model': kernel #0 \(Cumsum\): tfjs kernel 'Cumsum' has no TensorFlow op mapping/,
    );
  });

  it("fails loudly on a constant that depends on the batch size, and on a slice that does", () => {
    const constant: Forward = (x) => tf.add(x["x"]!, tf.ones(x["x"]!.shape));
    expect(() => buildGraph("m1", [trace(constant, [X], variables, 3), trace(constant, [X], variables, 5)], variables, graphInputs([X]), "out")).toThrow(
      /export of 'm1': kernel #0 \(Add\): input b is a constant that depends on the batch size \(\[3, 4\] vs \[5, 4\]\)/,
    );
    const lastRow: Forward = (x) => tf.slice(x["x"]!, [x["x"]!.shape[0]! - 1, 0], [1, -1]);
    expect(() => buildGraph("m2", [trace(lastRow, [X], variables, 3), trace(lastRow, [X], variables, 5)], variables, graphInputs([X]), "out")).toThrow(
      /export of 'm2': kernel #0 \(Slice\): its begin \[2, 0\] depends on the batch size/,
    );
  });

  it("fails loudly on a forward pass that reads the label", () => {
    const label: InputSpec = { name: "label", dtype: "float32", shape: [-1] };
    const forward: Forward = (x) => tf.add(x["x"]!.sum(1), x["label"]!);
    expect(() => buildGraph("m3", [trace(forward, [X, label], variables, 3), trace(forward, [X, label], variables, 5)], variables, graphInputs([X]), "out")).toThrow(
      /export of 'm3': the forward pass reads label, which a served model is not given/,
    );
  });

  it("refuses a forward pass that reads tensor values (what it computes could depend on them)", () => {
    const forward: Forward = (x) => (x["x"]!.sum().dataSync()[0]! > 0 ? tf.relu(x["x"]!) : tf.neg(x["x"]!));
    expect(() => trace(forward, [X], variables, 3)).toThrow(/the forward pass reads tensor values/);
    // Reading works again after the trace.
    expect(tf.scalar(2).dataSync()[0]).toBe(2);
  });

  it("records top-level kernels only: a kernel running another through the engine is one call; customGrad's forward ops are recorded", () => {
    const config: tf.KernelConfig = {
      kernelName: "MktTestOuter",
      backendName: "cpu",
      kernelFunc: ({ inputs }) => (tf.engine().runKernel("Relu", { x: inputs["x"] as tf.Tensor }) as tf.Tensor) as unknown as tf.TensorInfo,
    };
    tf.registerKernel(config);
    try {
      const doubled = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
        const x = args[0] as tf.Tensor;
        return { value: tf.mul(x, 2), gradFunc: (dy: tf.Tensor) => dy };
      });
      const forward: Forward = (x) => doubled(tf.engine().runKernel("MktTestOuter", { x: x["x"]! }) as tf.Tensor) as tf.Tensor;
      const traced = trace(forward, [X], variables, 3);
      expect(traced.calls.map((c) => c.kernel)).toEqual(["MktTestOuter", "Multiply"]);
      expect(traced.result).toEqual({ kind: "call", call: 1, output: 0 });
    } finally {
      tf.unregisterKernel("MktTestOuter", "cpu");
    }
    // The engine's own runKernel is back.
    expect(Object.hasOwn(tf.engine(), "runKernel")).toBe(false);
  });
});
