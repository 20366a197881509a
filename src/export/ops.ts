import { tf } from "../engine/index.ts";

/**
 * The tfjs kernels an exported forward pass may contain, each mapped to the TensorFlow op (name,
 * inputs, attributes) that tfjs-converter's executors turn back into the same tfjs op. What a
 * kernel's attribute is in tfjs (e.g. Reshape's shape, Sum's axis) is often an input tensor in
 * TensorFlow: those become int32 Const nodes. A kernel missing here is an error, never an
 * approximation.
 */

/** An attribute value as TensorFlow's GraphDef JSON writes it (the subset tfjs-converter reads). */
export type AttrValue =
  | { type: string }
  | { i: string }
  | { f: number }
  | { b: boolean }
  | { shape: TensorShape }
  | { list: { s: string[] } }
  | { tensor: { dtype: string; tensorShape: TensorShape } };

export interface TensorShape {
  dim: Array<{ size: string }>;
}

/** A node of the exported GraphDef. */
export interface GraphNode {
  name: string;
  op: string;
  input: string[];
  attr: Record<string, AttrValue>;
}

const DTYPES: Partial<Record<tf.DataType, string>> = { float32: "DT_FLOAT", int32: "DT_INT32", bool: "DT_BOOL" };

/** TensorFlow's name of a tfjs dtype. */
export function tfDtype(dtype: tf.DataType): string {
  const type = DTYPES[dtype];
  if (type === undefined) throw new Error(`export: no TensorFlow dtype for ${dtype}`);
  return type;
}

export const attr = {
  int: (n: number): AttrValue => ({ i: String(n) }),
  float: (x: number): AttrValue => ({ f: x }),
  bool: (b: boolean): AttrValue => ({ b }),
  /** tfjs-converter reads strings base64-encoded, as TensorFlow's JSON writes bytes. */
  strings: (values: string[]): AttrValue => ({ list: { s: values.map((v) => Buffer.from(v, "utf8").toString("base64")) } }),
  dtype: (dtype: tf.DataType): AttrValue => ({ type: tfDtype(dtype) }),
  shape: (dims: readonly number[]): AttrValue => ({ shape: tensorShape(dims) }),
};

export function tensorShape(dims: readonly number[]): TensorShape {
  return { dim: dims.map((d) => ({ size: String(d) })) };
}

/** What a mapping reads of one recorded kernel call (in the first of the two traces, unless said). */
export interface OpContext {
  /** The node's name: its attribute constants are named after it. */
  readonly name: string;
  /** Node references of the kernel's inputs, in the order the op passed them. */
  readonly inputs: readonly string[];
  /** The kernel's names of those inputs (e.g. "a", "b", "bias"). */
  readonly inputNames: readonly string[];
  /** Shapes of the kernel's inputs. */
  readonly inputShapes: readonly (readonly number[])[];
  readonly inputDtypes: readonly tf.DataType[];
  readonly outputShapes: readonly (readonly number[])[];
  /** An attribute, which must be the same in both traces. */
  attr<T>(key: string): T;
  /** An attribute in both traces, for a mapping that knows how a batch-dependent value generalises. */
  attrPair<T>(key: string): [T, T];
  /** Input and output shapes of the second trace. */
  readonly otherInputShapes: readonly (readonly number[])[];
  readonly otherOutputShapes: readonly (readonly number[])[];
  /** An int32 Const node `<name>/<suffix>` holding `values` (a scalar when `scalar`); returns its name. */
  constInt(suffix: string, values: readonly number[], scalar?: boolean): string;
  /** Throws an error naming the model, the call and the kernel. */
  fail(message: string): never;
}

export interface MappedOp {
  op: string;
  input: string[];
  attr?: Record<string, AttrValue>;
}

type Mapping = (ctx: OpContext) => MappedOp;

const same = (tfOp: string): Mapping => (ctx) => ({ op: tfOp, input: [...ctx.inputs] });

/** Axes as tfjs's reductions take them (number, list or null for all) → a sorted list of non-negative axes. */
function axes(ctx: OpContext, key: string): number[] {
  const shape = [...ctx.inputShapes[0]!];
  const value = ctx.attr<number | number[] | null | undefined>(key);
  // null (or absent): every axis.
  return tf.util.parseAxisParam(value ?? shape.map((_, i) => i), shape);
}

const reduction = (tfOp: string, axisKey = "axis"): Mapping => (ctx) => ({
  op: tfOp,
  input: [ctx.inputs[0]!, ctx.constInt("axis", axes(ctx, axisKey))],
  attr: { keep_dims: attr.bool(ctx.attr<boolean>("keepDims") === true) },
});

/**
 * A shape whose entries may depend on the batch size: an entry that differs between the two traces
 * becomes -1 (one at most: the batch dimension, possibly folded with other dimensions).
 */
function batchShape(ctx: OpContext, a: readonly number[], b: readonly number[]): number[] {
  if (a.length !== b.length) ctx.fail(`its shape has rank ${a.length} in one trace and ${b.length} in the other`);
  const out = a.map((d, i) => (d === b[i] ? d : -1));
  const inferred = out.filter((d) => d === -1).length;
  if (inferred > 1) ctx.fail(`its shape [${a.join(", ")}] vs [${b.join(", ")}] has more than one batch-dependent or inferred entry`);
  return out;
}

/** tfjs activation names of _FusedMatMul → the op names TensorFlow fuses (tfjs-converter lower-cases them back). */
const FUSED_ACTIVATIONS: Record<string, string | undefined> = {
  linear: undefined,
  relu: "Relu",
  relu6: "Relu6",
  elu: "Elu",
  sigmoid: "Sigmoid",
  leakyrelu: "LeakyRelu",
  prelu: "Prelu",
};

const UNARY = ["Abs", "Ceil", "Elu", "Erf", "Exp", "Floor", "Log", "Log1p", "Neg", "Reciprocal", "Relu", "Relu6", "Round", "Rsqrt", "Selu", "Sigmoid", "Sign", "Softplus", "Sqrt", "Square", "Tanh"] as const;
const BINARY = ["Equal", "Greater", "GreaterEqual", "Less", "LessEqual", "Maximum", "Minimum", "Pow", "RealDiv", "SquaredDifference", "Sub"] as const;

/** tfjs kernel name → TensorFlow op. */
export const OP_MAPPINGS: Readonly<Record<string, Mapping>> = {
  ...Object.fromEntries(UNARY.map((op) => [op, same(op)])),
  ...Object.fromEntries(BINARY.map((op) => [op, same(op)])),
  Add: same("AddV2"),
  Multiply: same("Mul"),
  Identity: same("Identity"),
  Prelu: same("Prelu"),
  // tf.where's broadcasting select.
  Select: same("SelectV2"),
  ZerosLike: same("ZerosLike"),
  OnesLike: same("OnesLike"),
  AddN: (ctx) => ({ op: "AddN", input: [...ctx.inputs], attr: { N: attr.int(ctx.inputs.length) } }),
  LeakyRelu: (ctx) => ({ op: "LeakyRelu", input: [...ctx.inputs], attr: { alpha: attr.float(ctx.attr<number>("alpha")) } }),
  Softmax: (ctx) => {
    const rank = ctx.inputShapes[0]!.length;
    const dim = ctx.attr<number>("dim");
    // TensorFlow's (and tfjs-converter's) Softmax normalises the last axis only.
    if (dim !== -1 && dim !== rank - 1) ctx.fail(`softmax over axis ${dim} of a rank-${rank} tensor (only the last axis maps to TensorFlow's Softmax)`);
    return { op: "Softmax", input: [...ctx.inputs] };
  },
  Cast: (ctx) => ({
    op: "Cast",
    input: [...ctx.inputs],
    attr: { SrcT: attr.dtype(ctx.inputDtypes[0]!), DstT: attr.dtype(ctx.attr<tf.DataType>("dtype")) },
  }),
  Sum: reduction("Sum"),
  Mean: reduction("Mean"),
  Prod: reduction("Prod"),
  Min: reduction("Min"),
  Max: reduction("Max", "reductionIndices"),
  Reshape: (ctx) => {
    // The resulting shapes (a -1 of the op resolved), so that a -1 the model wrote next to the batch dimension becomes its size.
    ctx.attrPair("shape");
    return { op: "Reshape", input: [ctx.inputs[0]!, ctx.constInt("shape", batchShape(ctx, ctx.outputShapes[0]!, ctx.otherOutputShapes[0]!))] };
  },
  ExpandDims: (ctx) => ({ op: "ExpandDims", input: [ctx.inputs[0]!, ctx.constInt("dim", [ctx.attr<number>("dim")], true)] }),
  Transpose: (ctx) => ({ op: "Transpose", input: [ctx.inputs[0]!, ctx.constInt("perm", ctx.attr<number[]>("perm"))] }),
  Tile: (ctx) => ({ op: "Tile", input: [ctx.inputs[0]!, ctx.constInt("multiples", ctx.attr<number[]>("reps"))] }),
  GatherV2: (ctx) => ({
    op: "GatherV2",
    input: [ctx.inputs[0]!, ctx.inputs[1]!, ctx.constInt("axis", [ctx.attr<number>("axis")], true)],
    attr: { batch_dims: attr.int(ctx.attr<number>("batchDims") ?? 0) },
  }),
  Concat: (ctx) => {
    const axis = tf.util.parseAxisParam(ctx.attr<number>("axis"), [...ctx.outputShapes[0]!])[0]!;
    return { op: "ConcatV2", input: [...ctx.inputs, ctx.constInt("axis", [axis], true)], attr: { N: attr.int(ctx.inputs.length) } };
  },
  Pack: (ctx) => ({ op: "Pack", input: [...ctx.inputs], attr: { axis: attr.int(ctx.attr<number>("axis")), N: attr.int(ctx.inputs.length) } }),
  Unpack: (ctx) => ({ op: "Unpack", input: [...ctx.inputs], attr: { axis: attr.int(ctx.attr<number>("axis")), num: attr.int(ctx.outputShapes.length) } }),
  SplitV: (ctx) => {
    const axis = tf.util.parseAxisParam(ctx.attr<number>("axis"), [...ctx.inputShapes[0]!])[0]!;
    ctx.attrPair("numOrSizeSplits"); // resolved below from the output shapes, which must not depend on the batch
    const sizes = ctx.outputShapes.map((s) => s[axis]!);
    const otherSize = ctx.otherInputShapes[0]![axis];
    if (otherSize !== ctx.inputShapes[0]![axis]) ctx.fail(`it splits the batch axis`);
    return {
      op: "SplitV",
      input: [ctx.inputs[0]!, ctx.constInt("size_splits", sizes), ctx.constInt("axis", [axis], true)],
      attr: { num_split: attr.int(sizes.length) },
    };
  },
  Slice: (ctx) => {
    const [beginA, beginB] = ctx.attrPair<number | number[]>("begin");
    const [sizeA, sizeB] = ctx.attrPair<number | number[] | undefined>("size");
    const xA = ctx.inputShapes[0]!;
    const xB = ctx.otherInputShapes[0]!;
    const [begin, a] = tf.slice_util.parseSliceParams({ shape: [...xA] } as tf.Tensor, beginA, sizeA) as [number[], number[]];
    const [otherBegin, b] = tf.slice_util.parseSliceParams({ shape: [...xB] } as tf.Tensor, beginB, sizeB) as [number[], number[]];
    if (begin.some((v, i) => v !== otherBegin[i])) ctx.fail(`its begin [${begin.join(", ")}] depends on the batch size`);
    // A size that differs between the traces is the rest of the batch axis: -1 ("to the end").
    const size = a.map((s, i) => {
      if (s === b[i]) return s;
      if (s === xA[i]! - begin[i]! && b[i] === xB[i]! - begin[i]!) return -1;
      return ctx.fail(`its size along axis ${i} depends on the batch size (${s} vs ${b[i]}) and does not reach the end`);
    });
    return { op: "Slice", input: [ctx.inputs[0]!, ctx.constInt("begin", begin), ctx.constInt("size", size)] };
  },
  BatchMatMul: (ctx) => ({
    op: "BatchMatMulV2",
    input: [...ctx.inputs],
    attr: { adj_x: attr.bool(ctx.attr<boolean>("transposeA") === true), adj_y: attr.bool(ctx.attr<boolean>("transposeB") === true) },
  }),
  _FusedMatMul: (ctx) => {
    const activation = ctx.attr<string | undefined>("activation") ?? "linear";
    if (!(activation in FUSED_ACTIVATIONS)) ctx.fail(`activation '${activation}' has no TensorFlow fused op`);
    const fusedActivation = FUSED_ACTIVATIONS[activation];
    const input = (name: string): string | undefined => ctx.inputs[ctx.inputNames.indexOf(name)];
    const [a, b, bias, alpha] = [input("a")!, input("b")!, input("bias"), input("preluActivationWeights")];
    if (bias === undefined) return ctx.fail("a fused matmul without a bias (tfjs-converter fuses an activation only after BiasAdd)");
    const args = [bias, ...(alpha !== undefined ? [alpha] : [])];
    const fusedOps = ["BiasAdd", ...(fusedActivation ? [fusedActivation] : [])];
    return {
      op: "_FusedMatMul",
      input: [a, b, ...args],
      attr: {
        transpose_a: attr.bool(ctx.attr<boolean>("transposeA") === true),
        transpose_b: attr.bool(ctx.attr<boolean>("transposeB") === true),
        fused_ops: attr.strings(fusedOps),
        num_args: attr.int(args.length),
        leakyrelu_alpha: attr.float(ctx.attr<number | undefined>("leakyreluAlpha") ?? 0.2),
      },
    };
  },
};
