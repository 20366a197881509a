import { z } from "../util/zod.ts";
import { evaluationResultSchema } from "../metrics/index.ts";
import { importanceReportSchema } from "../models/mkt/importance.ts";
import { modelCategorySchema, stageRecordSchema } from "../models/recipe.ts";
import { jsonNumber } from "../util/json.ts";
import { provenanceSchema } from "./provenance.ts";

/**
 * Everything one (model, seed) run produced: `<run>/<model>/seed-<seed>/result.json`. The one
 * definition of the file: runModel writes a ModelResult, the report reads it back through this
 * schema (NaN metrics, null in JSON, become NaN again).
 */
export const modelResultSchema = z.object({
  model: z.string(),
  category: modelCategorySchema,
  seed: z.number().int(),
  /** Target test metrics (AUC, GAUC, LogLoss, counts, user groups). */
  metrics: evaluationResultSchema,
  stages: z.array(stageRecordSchema),
  evaluation: z.object({ seconds: z.number(), samplesPerSecond: jsonNumber }),
  /** MKT's (and its ablations') mean HFA importance; absent for other models and without HFA. */
  importance: importanceReportSchema.optional(),
  /** Wall time of this run, all stages and the evaluation (resumed stages count 0). */
  seconds: z.number(),
  provenance: provenanceSchema,
});
export type ModelResult = z.output<typeof modelResultSchema>;
