import type { Batch } from "../../../src/data/batch.ts";
import type { PreparedSchema } from "../../../src/data/schema.ts";

/**
 * A copy of `batch` in which each of `columns` (feature columns, or "<sequence>.<element>" for a
 * sequence's real elements) holds another valid id on the rows where `rows(i)` holds.
 */
export function withOtherIds(batch: Batch, schema: PreparedSchema, columns: string[], rows: (i: number) => boolean = () => true): Batch {
  const vocab = (column: string): number => schema.features.find((f) => f.column === column)!.vocabSize;
  const next = (id: number, v: number): number => 1 + (id % (v - 1));
  const features = { ...batch.features };
  const sequences = { ...batch.sequences };
  for (const column of columns) {
    const [name, element] = column.split(".");
    if (element === undefined) {
      features[column] = batch.features[column]!.map((id, i) => (rows(i) ? next(id, vocab(column)) : id));
      continue;
    }
    const seq = batch.sequences[name!]!;
    const v = vocab(schema.sequences.find((s) => s.name === name)!.elements[element]!);
    const ids = seq.ids[element]!.map((id, k) => {
      const i = Math.floor(k / seq.maxlen);
      return rows(i) && k % seq.maxlen < seq.length[i]! ? next(id, v) : id;
    });
    sequences[name!] = { ...seq, ids: { ...seq.ids, [element]: ids } };
  }
  return { ...batch, features, sequences };
}
