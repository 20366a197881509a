import type { Batch } from "../../src/data/batch.ts";
import type { PreparedSchema } from "../../src/data/schema.ts";
import type { CtrModel } from "../../src/models/model.ts";

/**
 * The single-domain MLP of SPEC §3 computed in float64 from a trained model's weights, row by row:
 * [v_u ‖ mean-pooled seq_source ‖ mean-pooled seq_target ‖ v_shared ‖ flatten(v_spec^t)] →
 * Dense+ReLU layers of `mlp/mlp` → `mlp/tower` → sigmoid. A sequence element is its shared-feature
 * embeddings (schema order) followed by its other element embeddings (the item id). Written from
 * the SPEC, not from the model's code: the comparison checks the tfjs forward pass.
 */
export function mlpReference64(model: CtrModel, schema: PreparedSchema, batch: Batch): Float64Array {
  const weights = new Map([...model.module.namedVariables()].map(([name, v]) => [name, { shape: v.shape, values: Float64Array.from(v.dataSync()) }]));
  const weight = (name: string) => {
    const w = weights.get(name);
    if (!w) throw new Error(`no variable ${name}`);
    return w;
  };
  const table = (column: string) => weight(`mlp/features/emb/${column}/table`);
  const dim = table(schema.features[0]!.column).shape[1]!;
  const columns = (group: string) => schema.features.filter((f) => f.group === group).map((f) => f.column);
  const userColumns = columns("user");
  const sharedColumns = columns("shared");
  const embed = (column: string, id: number): Float64Array => table(column).values.subarray(id * dim, (id + 1) * dim);
  const layers = (prefix: string): { kernel: { shape: number[]; values: Float64Array }; bias: Float64Array }[] => {
    const found = [];
    for (let i = 0; weights.has(`${prefix}/dense${i}/kernel`); i++) found.push({ kernel: weight(`${prefix}/dense${i}/kernel`), bias: weight(`${prefix}/dense${i}/bias`).values });
    return found;
  };
  const denseLayer = (x: Float64Array, kernel: { shape: number[]; values: Float64Array }, bias: Float64Array, relu: boolean): Float64Array => {
    const [inSize, outSize] = kernel.shape as [number, number];
    if (x.length !== inSize) throw new Error(`input ${x.length} vs kernel ${inSize}`);
    const y = Float64Array.from(bias);
    for (let i = 0; i < inSize; i++) for (let j = 0; j < outSize; j++) y[j]! += x[i]! * kernel.values[i * outSize + j]!;
    return relu ? y.map((v) => Math.max(0, v)) : y;
  };
  const hidden = [...layers("mlp/mlp"), ...layers("mlp/tower/hidden")];
  const logit = { kernel: weight("mlp/tower/logit/kernel"), bias: weight("mlp/tower/logit/bias").values };

  const scores = new Float64Array(batch.size);
  for (let r = 0; r < batch.size; r++) {
    const parts: Float64Array[] = userColumns.map((c) => embed(c, batch.features[c]![r]!));
    for (const seq of schema.sequences) {
      const ids = batch.sequences[seq.name]!;
      const byColumn = Object.entries(seq.elements).map(([element, column]) => ({ element, column }));
      const elements = [...sharedColumns.map((c) => byColumn.find((e) => e.column === c)!), ...byColumn.filter((e) => !sharedColumns.includes(e.column))];
      const pooled = new Float64Array(elements.length * dim);
      const length = Math.min(ids.length[r]!, ids.maxlen);
      for (let p = 0; p < length; p++) {
        elements.forEach(({ element, column }, k) => {
          const e = embed(column, ids.ids[element]![r * ids.maxlen + p]!);
          for (let d = 0; d < dim; d++) pooled[k * dim + d]! += e[d]!;
        });
      }
      if (length > 0) for (let i = 0; i < pooled.length; i++) pooled[i]! /= length;
      parts.push(pooled);
    }
    for (const c of sharedColumns) parts.push(embed(c, batch.features[c]![r]!));
    for (const c of schema.entities.target.specificColumns) parts.push(embed(c, batch.features[c]![r]!));
    let x: Float64Array = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
    let offset = 0;
    for (const p of parts) {
      x.set(p, offset);
      offset += p.length;
    }
    for (const layer of hidden) x = denseLayer(x, layer.kernel, layer.bias, true);
    const z = denseLayer(x, logit.kernel, logit.bias, false)[0]!;
    scores[r] = 1 / (1 + Math.exp(-z));
  }
  return scores;
}
