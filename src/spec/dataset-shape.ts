/** The shape of a dataset spec (docs/specs.md): each field's schema and the spec's types. */
import { withRules, z } from "../util/zod.ts";
import { MAX_NAME_CHARS, specPath } from "./common.ts";

/** Field names become column and vocabulary file names: keep them plain. */
const fieldName = z.string().max(MAX_NAME_CHARS).regex(/^[a-z][a-z0-9_]*$/, "expected a lower-case name of letters, digits and _");

/**
 * A raw table: CSV, TSV or Parquet, in one file or several read as one (a list of paths and/or glob
 * patterns, `*` `?` `[…]` `**`; the files in list order, each pattern's matches sorted by path).
 * Paths are relative to the dataset's raw_dir.
 */
export const rawTableSchema = z.strictObject({
  path: z.union([specPath, z.array(specPath).min(1)]),
  /** Default: from the extension (.csv → csv, .tsv/.tab → tsv, .parquet → parquet). */
  format: z.enum(["csv", "tsv", "parquet"]).optional(),
  /** Whether a CSV/TSV file has a header line. */
  header: z.boolean().default(true),
  /** Column names, required for CSV/TSV files without a header. */
  columns: z.array(z.string().min(1)).optional(),
});

/** A categorical field (vocabulary fitted on train) or a numeric one (quantile buckets fitted on train). */
export const fieldSchema = z.strictObject({
  name: fieldName,
  /** Raw column holding the value; default: the field's name. */
  column: z.string().optional(),
  type: z.enum(["categorical", "numeric"]).default("categorical"),
  /** Number of quantile buckets for a numeric field. */
  buckets: z.number().int().min(2).max(1000).default(10),
  /**
   * A value computed by prepare instead of read from a column. `item_popularity`: the item's
   * number of training rows in its entity's log as logged (impressions, or positives for a log of
   * positives only; never sampled negatives, never valid/test rows), numeric, bucketized; useful as
   * a shared feature when the raw data has no item features.
   */
  derive: z.enum(["item_popularity"]).optional(),
});

const labelSchema = z.strictObject({
  column: z.string().min(1),
  /** A comparison such as ">= 4"; without it the column must hold 0/1 (or true/false). */
  rule: z
    .string()
    .regex(/^\s*(>=|<=|==|!=|>|<)\s*-?\d+(\.\d+)?\s*$/, 'expected a comparison such as ">= 4"')
    .optional(),
});

/**
 * For a log of positives only: after the split, each positive gets `per_positive` negatives drawn
 * inside its own split, without replacement, from the entity's items the user never interacted with
 * (in any split): uniformly over the items of the entity's log, or in proportion to each item's
 * number of training positives.
 */
const negativesSchema = z.strictObject({
  /** Negatives drawn per positive (the log holds positives only). */
  per_positive: z.number().int().min(1).max(100),
  strategy: z.enum(["uniform", "popularity"]).default("uniform"),
});

const itemTableSchema = z.strictObject({
  table: z.string().min(1),
  /** Item id column in the item table; default: the entity's item column. */
  key: z.string().optional(),
});

export const entitySchema = withRules(z.strictObject({
  /** Human name of the entity, e.g. "book" or "product". */
  name: z.string().min(1),
  /** Key into `tables` of the impression (or rating) log. */
  table: z.string().min(1),
  user_column: z.string().default("user_id"),
  item_column: z.string().default("item_id"),
  /** Time column: epoch seconds or a timestamp/date string. Without it, per-user file order is the time. */
  time_column: z.string().optional(),
  /** How to read the label; optional only when `negatives` is given (then every logged row is a positive). */
  label: labelSchema.optional(),
  /** Item side table joined on the item id (shared and specific fields may come from it). */
  items: itemTableSchema.optional(),
  /** Entity-specific item fields besides item_id (which is always specific). */
  specific: z.array(fieldSchema).default([]),
  /** Column of each shared field in this entity's tables, where it differs from the field's column. */
  shared_columns: z.record(z.string(), z.string()).default({}),
  /** Negative sampling for logs that hold only positives. */
  negatives: negativesSchema.optional(),
  /**
   * Column of the log holding each row's true click probability (generated data only): carried
   * into the prepared splits as `p_true`, not a feature; the Oracle row of Table 2 scores with it.
   */
  true_probability_column: z.string().min(1).optional(),
}), (e, ctx) => {
  // Every row of a log of positives only gets negatives: a label would make some rows negatives too.
  if (e.label && e.negatives) ctx.addIssue({ code: "custom", path: ["negatives"], message: "only for a log of positives only: remove label (every row is a positive) or negatives" });
  // Sampled negatives have no true probability.
  if (e.true_probability_column !== undefined && e.negatives) {
    ctx.addIssue({ code: "custom", path: ["true_probability_column"], message: "not with negatives (sampled negatives have no true probability)" });
  }
});

const usersSchema = z.strictObject({
  table: z.string().min(1),
  /** User id column in the user table. */
  key: z.string().default("user_id"),
  fields: z.array(fieldSchema).default([]),
});

const timeSplitSchema = z.strictObject({
  by: z.literal("time"),
  /** Length of one time slice in the time column's unit (seconds): test = last slice, valid = the one before. */
  slice_seconds: z.number().positive().default(86_400),
});

const userOrderSplitSchema = z.strictObject({
  by: z.literal("user_order"),
  /** Share of each user's logged target rows (the last ones) held out for test, and the ones before for valid. */
  test_fraction: z.number().min(0).max(0.9).default(0.2),
  valid_fraction: z.number().min(0).max(0.9).default(0.1),
});

/** Leave-last-out: each user's last `test` logged target rows → test, the `valid` before → valid (sequential and cross-domain papers' protocol). */
const userLastSplitSchema = z.strictObject({
  by: z.literal("user_last"),
  test: z.number().int().min(1).max(100).default(1),
  valid: z.number().int().min(1).max(100).default(1),
});

/**
 * The synthetic generator (src/data/generator.ts). Each knob after `taste_weight` plants one
 * mechanism for one kind of model; its default leaves the mechanism out (docs/data.md).
 */
export const syntheticGeneratorSchema = withRules(
  z.strictObject({
    kind: z.literal("synthetic"),
    seed: z.number().int().default(1),
    users: z.number().int().min(10).default(2_000),
    days: z.number().int().min(3).default(10),
    source_items: z.number().int().min(10).default(5_000),
    target_items: z.number().int().min(10).default(1_000),
    /** Total impressions over all days and both entities (default 200,000 unless target_rows_per_user is given). */
    impressions: z.number().int().min(100).optional(),
    /** Target impressions per user on average; sets impressions = users × this × (1 + source_per_target). */
    target_rows_per_user: z.number().positive().optional(),
    /** Source impressions per target impression. */
    source_per_target: z.number().positive().default(9),
    /** Wanted click-through rate of each entity; the generator calibrates its intercepts to them. */
    target_ctr: z.number().gt(0).lt(1).default(0.05),
    source_ctr: z.number().gt(0).lt(1).default(0.08),
    categories: z.number().int().min(2).default(20),
    creators: z.number().int().min(2).default(500),
    latent_dim: z.number().int().min(1).default(8),
    /** Scale of user taste · item vector in the click logit: the planted signal's strength. */
    taste_weight: z.number().min(0).default(1.5),
    /** ρ: correlation of a user's source and target taste (1 the same taste, < 0 opposed: negative transfer). */
    taste_correlation: z.number().min(-1).max(1).default(1),
    /** δ: share of taste's variance renewed each day (0: no drift). */
    taste_drift: z.number().min(0).max(1).default(0),
    /** Weight of one item latent shown as price by source items and as length by target items, times the user's preference for it. */
    specific_latent_weight: z.number().min(0).default(0),
    /** Weight of a random city × category table (a pairwise feature interaction). */
    interaction_weight: z.number().min(0).default(0),
    /** Logit added when the item's category is the user's interest of the day (seen only through recent clicks). */
    sequence_weight: z.number().min(0).default(0),
    /** Factor on the source entity's logit before its intercept (the target's is 1). */
    source_logit_scale: z.number().positive().default(1),
    /** Share of impressions whose label is drawn from the entity's CTR alone, ignoring user and item. */
    label_noise: z.number().min(0).lt(1).default(0),
  }),
  (g, ctx) => {
    if (g.impressions !== undefined && g.target_rows_per_user !== undefined) {
      ctx.addIssue({ code: "custom", path: ["target_rows_per_user"], message: "give impressions or target_rows_per_user, not both" });
    }
  },
);

/** The shape of a dataset spec, without the rules between its fields (see dataset-rules.ts). */
export const datasetSpecObject = z.strictObject({
  name: z.string().max(MAX_NAME_CHARS).regex(/^[a-z][a-z0-9_-]*$/, "expected a lower-case name of letters, digits, - and _"),
  description: z.string().optional(),
  /** Directory of the raw tables, relative to this spec file. Default for a generator: `<results>/raw/<name>`. */
  raw_dir: specPath.optional(),
  /** With a generator, prepare first writes the raw tables, then prepares them like real data. */
  generator: syntheticGeneratorSchema.optional(),
  tables: z.record(z.string(), rawTableSchema),
  users: usersSchema.optional(),
  entities: z.strictObject({ source: entitySchema, target: entitySchema }),
  /** Item fields both entities have, with one vocabulary. */
  shared: z.array(fieldSchema).default([]),
  /** Length of each behaviour sequence (newest first, padded with 0). */
  sequence_maxlen: z.number().int().min(1).max(200).default(20),
  split: z.discriminatedUnion("by", [timeSplitSchema, userOrderSplitSchema, userLastSplitSchema]).default({ by: "time", slice_seconds: 86_400 }),
  /** Thresholds on a user's training clicks: [10, 30] → groups <10, 10–30, ≥30. */
  user_groups: z.array(z.number().int().min(1)).min(1).default([10, 30]),
  /** Values seen fewer times than this in train map to out-of-vocabulary (id 1). */
  vocab_min_count: z.number().int().min(1).default(1),
  /** fail: stop at the first bad raw row; skip: drop bad rows and count them per reason. */
  on_bad_rows: z.enum(["fail", "skip"]).default("fail"),
  /** Seed of negative sampling and of the training files' row order. */
  seed: z.number().int().default(1),
});


export type DatasetSpec = z.output<typeof datasetSpecObject>;
export type RawTable = z.output<typeof rawTableSchema>;
export type FieldSpec = z.output<typeof fieldSchema>;
export type EntitySpec = z.output<typeof entitySchema>;
export type SyntheticGeneratorSpec = z.output<typeof syntheticGeneratorSchema>;
