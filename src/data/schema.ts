import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { UserError } from "../util/errors.ts";
import type { EntityName } from "./batch.ts";

export type FeatureGroup = "user" | "shared" | "specific";

/** One feature of a prepared dataset: a column of vocabulary ids (0 padding/missing, 1 out-of-vocabulary). */
export interface PreparedFeature {
  name: string;
  /** Parquet column and batch key, e.g. "user__gender", "shared__category", "source__price". */
  column: string;
  group: FeatureGroup;
  entity: "both" | EntityName;
  type: "categorical" | "numeric";
  /** Number of ids including 0 and 1: embedding tables need exactly this many rows. */
  vocabSize: number;
  /** Bucket boundaries (numeric features), fitted on train. */
  boundaries?: number[];
  /** Made by prepare without a spec field naming it (the user id, each entity's item id). */
  implicit?: true;
  /** Computed by prepare instead of read from a column. */
  derive?: "item_popularity";
}

/**
 * A behaviour sequence: per sample, the rows (in the entity's item table) of the clicked items,
 * newest first, 0-padded. Each item row carries the item's id and its shared features, so one
 * sequence element is represented by those ids.
 */
export interface PreparedSequence {
  name: "seq_source" | "seq_target";
  entity: EntityName;
  maxlen: number;
  /** Element feature name → the feature column whose vocabulary (and embedding) it uses. */
  elements: Record<string, string>;
  /** Parquet column of item rows (INTEGER[maxlen]). */
  rowColumn: string;
  /** Parquet column holding the number of real elements. */
  lengthColumn: string;
  /** The item table: item_row (1…itemCount; 0 is padding) → one column per element feature. */
  itemsFile: string;
  itemCount: number;
}

export type SplitName = "source/train" | "source/test" | "target/train" | "target/valid" | "target/test";

/** Layout version of prepared datasets: a dataset prepared with another version is prepared again. */
export const PREPARED_FORMAT_VERSION = 3;

export interface PreparedSchema {
  version: typeof PREPARED_FORMAT_VERSION;
  dataset: string;
  specHash: string;
  entities: Record<EntityName, { name: string; specificColumns: string[] }>;
  features: PreparedFeature[];
  sequences: PreparedSequence[];
  userGroups: number[];
  splits: Partial<Record<SplitName, { file: string; rows: number }>>;
  split: { by: "time" | "user_order" | "user_last"; detail: string };
  /** Generated data: the split files' column of each row's true click probability, for the entities that have it. */
  trueProbability?: { column: string; entities: EntityName[] };
}

export const SCHEMA_FILE = "schema.json";
export const STATS_FILE = "stats.json";

export async function readPreparedSchema(dir: string): Promise<PreparedSchema> {
  let schema: PreparedSchema;
  try {
    schema = JSON.parse(await readFile(join(dir, SCHEMA_FILE), "utf8")) as PreparedSchema;
  } catch {
    throw new UserError(`${dir}: not a prepared dataset (no readable ${SCHEMA_FILE}); run 'mkt prepare' first`);
  }
  if (schema.version !== PREPARED_FORMAT_VERSION) {
    throw new UserError(`${dir}: prepared with format version ${schema.version}, this mkt reads version ${PREPARED_FORMAT_VERSION}; run 'mkt prepare --force' on its spec`);
  }
  return schema;
}
