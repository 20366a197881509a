import { tf } from "../engine/index.ts";

/** Where a recorded kernel's input comes from. */
export type TracedSource =
  /** Output `output` of the recorded call number `call`. */
  | { kind: "call"; call: number; output: number }
  /** A model variable, by its logical name. */
  | { kind: "variable"; name: string }
  /** A batch tensor fed to the forward pass, by its input name. */
  | { kind: "input"; name: string }
  /** Any other tensor the forward pass created without a kernel (tf.scalar, tf.tensor, …): its values. */
  | { kind: "constant"; id: number; shape: number[]; dtype: tf.DataType; values: Float32Array | Int32Array };

/** One top-level kernel call of the forward pass. */
export interface TracedCall {
  kernel: string;
  /** The kernel's named inputs, in the order the op passed them. */
  inputs: Array<{ name: string; source: TracedSource; shape: number[]; dtype: tf.DataType }>;
  attrs: Record<string, unknown>;
  outputs: Array<{ shape: number[]; dtype: tf.DataType }>;
}

/** What a forward pass ran, and which recorded value it returned. */
export interface Trace {
  calls: TracedCall[];
  /** The returned tensor. */
  result: TracedSource;
}

type RunKernel = (kernelName: string, inputs: tf.NamedTensorMap, attrs?: tf.NamedAttrMap) => tf.Tensor | tf.Tensor[];
type ReadSync = (dataId: object) => unknown;

/** A deep copy of an attribute value (arrays of numbers, numbers, strings, booleans, null). */
function copyAttr(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(copyAttr);
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<number>);
  if (value === null || typeof value !== "object") return value;
  throw new Error(`trace: an attribute of an unexpected kind (${Object.prototype.toString.call(value)})`);
}

/**
 * Runs `forward` once and records every kernel it runs through `tf.engine().runKernel` (every tfjs
 * op does), with where each input comes from. Only top-level calls are recorded: a kernel that runs
 * other kernels through the engine is one call. tf.customGrad's forward ops are not kernels of their
 * own: they go through runKernel and are recorded. `variables` names the model's variables and
 * `inputs` the batch tensors (by tensor id); any other tensor a kernel reads that no recorded call
 * made is a constant of the forward pass, whose values are copied when it is first read.
 */
export function traceForward(forward: () => tf.Tensor, variables: ReadonlyMap<string, tf.Variable>, inputs: ReadonlyMap<string, tf.Tensor>): Trace {
  const engine = tf.engine() as unknown as { runKernel: RunKernel; readSync: ReadSync; read: ReadSync };
  if (Object.hasOwn(engine, "runKernel")) throw new Error("trace: tf.engine().runKernel is already wrapped (a trace inside a trace?)");
  const original = engine.runKernel;
  const originalRead = { readSync: engine.readSync, read: engine.read };
  const variableNames = new Map([...variables].map(([name, v]) => [v.id, name]));
  const inputNames = new Map([...inputs].map(([name, t]) => [t.id, name]));
  const produced = new Map<number, TracedSource>();
  const constants = new Map<number, TracedSource>();
  const calls: TracedCall[] = [];
  let depth = 0;

  const source = (t: tf.Tensor): TracedSource => {
    const known = produced.get(t.id);
    if (known !== undefined) return known;
    const variable = variableNames.get(t.id);
    if (variable !== undefined) return { kind: "variable", name: variable };
    const input = inputNames.get(t.id);
    if (input !== undefined) return { kind: "input", name: input };
    let constant = constants.get(t.id);
    if (constant === undefined) {
      if (t.dtype !== "float32" && t.dtype !== "int32") throw new Error(`trace: a ${t.dtype} constant [${t.shape.join(", ")}] (only float32 and int32 are exported)`);
      const values = (originalRead.readSync.call(engine, t.dataId) as Float32Array | Int32Array).slice();
      constant = { kind: "constant", id: t.id, shape: [...t.shape], dtype: t.dtype, values };
      constants.set(t.id, constant);
    }
    return constant;
  };

  engine.runKernel = function (this: unknown, kernelName, kernelInputs, attrs) {
    if (depth > 0) return original.call(this, kernelName, kernelInputs, attrs);
    const recorded: TracedCall = {
      kernel: kernelName,
      // Optional inputs an op leaves out (e.g. a fused matmul's bias) are undefined.
      inputs: Object.entries(kernelInputs).filter(([, t]) => t != null).map(([name, t]) => {
        if (!(t instanceof tf.Tensor)) throw new Error(`trace: input '${name}' of kernel ${kernelName} is not a tensor`);
        return { name, source: source(t), shape: [...t.shape], dtype: t.dtype };
      }),
      attrs: Object.fromEntries(Object.entries(attrs ?? {}).map(([k, v]) => [k, copyAttr(v)])),
      outputs: [],
    };
    depth++;
    let out: tf.Tensor | tf.Tensor[];
    try {
      out = original.call(this, kernelName, kernelInputs, attrs);
    } finally {
      depth--;
    }
    const index = calls.length;
    (Array.isArray(out) ? out : [out]).forEach((t, output) => {
      produced.set(t.id, { kind: "call", call: index, output });
      recorded.outputs.push({ shape: [...t.shape], dtype: t.dtype });
    });
    calls.push(recorded);
    return out;
  };
  // A forward pass that reads values back to decide what to compute next cannot become a graph (a
  // kernel may read its own inputs).
  const refuseRead = (read: ReadSync): ReadSync =>
    function (this: unknown, dataId) {
      if (depth > 0) return read.call(this, dataId);
      throw new Error("trace: the forward pass reads tensor values (dataSync, data, array…): what it computes would depend on them, which a graph cannot hold");
    };
  engine.readSync = refuseRead(originalRead.readSync);
  engine.read = refuseRead(originalRead.read);
  let trace: Trace | undefined;
  try {
    tf.tidy(() => {
      const result = forward();
      trace = { calls, result: source(result) };
    });
  } finally {
    // The engine's own methods are on its prototype: removing the wrappers restores them.
    delete (engine as Partial<typeof engine>).runKernel;
    delete (engine as Partial<typeof engine>).readSync;
    delete (engine as Partial<typeof engine>).read;
  }
  return trace!;
}
