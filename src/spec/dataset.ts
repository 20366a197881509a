/** A dataset spec's schema: its shape (dataset-shape.ts) and the rules between its fields (dataset-rules.ts). */
import { withRules } from "../util/zod.ts";
import { datasetRules } from "./dataset-rules.ts";
import { datasetSpecObject } from "./dataset-shape.ts";

export * from "./dataset-shape.ts";

export const datasetSpecSchema = withRules(datasetSpecObject, datasetRules);
