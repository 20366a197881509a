import { tf } from "../../engine/index.ts";
import { z } from "../../util/zod.ts";
import { ENTITY_NAMES } from "../../data/batch.ts";
import type { PreparedDataset } from "../../data/reader.ts";
import { jsonNumber } from "../../util/json.ts";
import { forEachBatch, valuesOf } from "../batch-loop.ts";
import type { CtrModel } from "../model.ts";
import { MultiEntityModel } from "./mem.ts";
import { TargetEntityModel } from "./tem.ts";

/** Mean HFA importance p of one entity's specific features (NaN, null in JSON, over no rows) and the rows it averages over. */
const entityImportanceSchema = z.object({ split: z.string(), rows: z.number().int(), features: z.record(z.string(), jsonNumber) });

/** Mean HFA importance p of each entity-specific feature, per entity: importance.json and result.json's `importance`. */
export const importanceReportSchema = z.object({ source: entityImportanceSchema, target: entityImportanceSchema });
export type ImportanceReport = z.output<typeof importanceReportSchema>;

/** The MEM inside an MKT model (MEM itself, or the frozen MEM of a TEM); undefined for other models. */
export function memOf(model: CtrModel): MultiEntityModel | undefined {
  if (model instanceof MultiEntityModel) return model;
  if (model instanceof TargetEntityModel) return model.mem;
  return undefined;
}

/**
 * "HFA prescreens feature importance": the mean p ∈ (0, 2) of every specific feature over an
 * entity's rows — target test rows, and source test rows (source train where there is no source
 * test split), up to `maxRows` each. Undefined without HFA.
 */
export async function meanImportance(mem: MultiEntityModel, dataset: PreparedDataset, batchSize: number, maxRows = 100_000): Promise<ImportanceReport | undefined> {
  const report: Partial<ImportanceReport> = {};
  for (const entity of ENTITY_NAMES) {
    const split = entity === "target" || dataset.schema.splits["source/test"] ? "test" : "train";
    const columns = dataset.schema.entities[entity].specificColumns;
    const sums = new Float64Array(columns.length);
    let rows = 0;
    let withoutHfa = false;
    await forEachBatch(dataset, { split, entities: [entity], batchSize }, async (batch) => {
      const p = await valuesOf(batch, (t) => {
        const importance = mem.importance(t)[entity];
        return importance ? tf.sum(importance, 0) : undefined;
      });
      if (!p) {
        withoutHfa = true;
        return false;
      }
      p.values.forEach((v, k) => (sums[k]! += v));
      rows += batch.size;
      return rows < maxRows;
    });
    if (withoutHfa) return undefined;
    const features: Record<string, number> = {};
    columns.forEach((column, k) => (features[column] = rows ? sums[k]! / rows : Number.NaN));
    report[entity] = { split: `${entity}/${split}`, rows, features };
  }
  return report as ImportanceReport;
}
