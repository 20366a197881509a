import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { queryObjects, queryValue, sqlIdent, sqlString } from "../duck.ts";
import { ENTITY_NAMES, type EntityName } from "../batch.ts";
import type { PreparedFeature, PreparedSequence, SplitName } from "../schema.ts";
import { groupLabels, groupOf } from "../../metrics/groups.ts";
import { auditNegatives, type NegativeAudit, type NegativeSampling } from "./negatives.ts";
import { paddedSequence } from "./sequences.ts";

const SPLIT_FILES: { name: SplitName; entity: 0 | 1; split: string }[] = [
  { name: "source/train", entity: 0, split: "train" },
  { name: "source/test", entity: 0, split: "test" },
  { name: "target/train", entity: 1, split: "train" },
  { name: "target/valid", entity: 1, split: "valid" },
  { name: "target/test", entity: 1, split: "test" },
];

/** The columns every split file has, in order (both entities' specific features, 0 where not applicable). */
export function sampleColumns(features: PreparedFeature[], sequences: PreparedSequence[]): string[] {
  return [
    "entity",
    "label",
    "user_key",
    "user_clicks",
    "slice",
    "t",
    "item_row",
    ...features.map((f) => f.column),
    ...sequences.flatMap((s) => [s.lengthColumn, s.rowColumn]),
  ];
}

/**
 * Writes one Parquet file per entity and split. Training files are in a seeded random order (so a
 * bounded shuffle buffer mixes well); evaluation files are ordered by user and time.
 */
export async function writeSplits(
  con: DuckDBConnection,
  outDir: string,
  columns: string[],
  sequences: PreparedSequence[],
  seed: number,
): Promise<Partial<Record<SplitName, { file: string; rows: number }>>> {
  const select = columns.map((c) => {
    const seq = sequences.find((s) => s.rowColumn === c);
    return seq ? paddedSequence(c, seq.maxlen) : sqlIdent(c);
  });
  const splits: Partial<Record<SplitName, { file: string; rows: number }>> = {};
  // The ORDER BY sits in a subquery (below): DuckDB keeps its order through the projection and the
  // writer only while insertion order is preserved.
  await con.run("SET preserve_insertion_order = true");
  for (const { name, entity, split } of SPLIT_FILES) {
    const rows = Number(await queryValue(con, `SELECT count(*) FROM final WHERE entity = ${entity} AND split = '${split}'`));
    if (rows === 0 && name === "source/test") continue;
    const file = `${name}.parquet`;
    await mkdir(join(outDir, name.split("/")[0]!), { recursive: true });
    const order = split === "train" ? `hash(${seed}, _row, _neg)` : "user_key, t, _row, _neg";
    // Sorted before the sequences are padded: the sort then moves short click lists, not 2 × maxlen ints per row.
    await con.run(
      `COPY (SELECT ${select.join(", ")} FROM (SELECT * FROM final WHERE entity = ${entity} AND split = '${split}' ORDER BY ${order}))
       TO ${sqlString(join(outDir, file))} (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 122880)`,
    );
    splits[name] = { file, rows };
  }
  return splits;
}

/** SHA-256 over the prepared files' bytes: two prepared datasets with equal fingerprints hold the same data. */
export async function fingerprintFiles(dir: string, files: string[]): Promise<string> {
  const hash = createHash("sha256");
  for (const file of [...files].sort()) {
    hash.update(file + "\0");
    for await (const chunk of createReadStream(join(dir, file))) hash.update(chunk as Buffer);
  }
  return hash.digest("hex");
}

export interface SplitStats {
  rows: number;
  positives: number;
  ctr: number | null;
  users: number;
  /** Entities with sampled negatives: groups (a positive and its negatives) with rows in this split and in another; always 0. */
  groupsCut?: number;
  /** Entities with sampled negatives: positives of this split dropped because their user had fewer than per_positive candidate items. */
  droppedPositives?: number;
}

/** Negative sampling of one entity (a log of positives only), and the audit of the rows written. */
export interface NegativeStats extends Omit<NegativeSampling, "entity" | "droppedPositives">, Omit<NegativeAudit, "groupsCutBySplit"> {
  /** Groups written: positives that got their negatives. */
  groups: number;
  droppedPositives: number;
}

/** Logged rows of an entity that a split rule keeps out of training (they are written to its test split). */
export interface LeftOutOfTraining {
  entity: EntityName;
  /** Rows as logged (impressions, or positives of a log of positives only) and their positives. */
  rows: number;
  positives: number;
  /** Share of the entity's logged rows. */
  share: number;
  reason: string;
}

export interface DatasetStats {
  dataset: string;
  fingerprint: string;
  rawRows: number;
  splits: Partial<Record<SplitName, SplitStats>>;
  /** Per entity with sampled negatives. */
  negatives: Partial<Record<EntityName, NegativeStats>>;
  leftOutOfTraining: LeftOutOfTraining[];
  users: { total: number; source: number; target: number; inBoth: number };
  /** Sequence length percentiles over the target test split and over all samples. */
  sequenceLength: Record<string, { p50: number; p90: number; p99: number; mean: number; emptyShare: number }>;
  /** Users per group of training clicks, over all users and over target test users. */
  userGroups: { thresholds: number[]; all: Record<string, number>; targetTest: Record<string, number> };
  badRows: Record<string, number>;
  seconds: number;
  /** Wall seconds of each step of prepare (optional: datasets prepared before it was recorded). */
  stepSeconds?: Record<string, number>;
}

export async function computeStats(
  con: DuckDBConnection,
  sequences: PreparedSequence[],
  thresholds: number[],
  sampled: NegativeSampling[],
  leftOutReason: string,
): Promise<Omit<DatasetStats, "dataset" | "fingerprint" | "rawRows" | "badRows" | "seconds" | "stepSeconds">> {
  const splits: DatasetStats["splits"] = {};
  const negatives: DatasetStats["negatives"] = {};
  const audits = new Map<EntityName, NegativeAudit>();
  for (const sampling of sampled) {
    const audit = await auditNegatives(con, sampling);
    audits.set(sampling.entity, audit);
    const groups = Number(await queryValue(con, `SELECT count(*) FROM final WHERE entity = ${ENTITY_NAMES.indexOf(sampling.entity)} AND _neg = 0`));
    negatives[sampling.entity] = {
      perPositive: sampling.perPositive,
      strategy: sampling.strategy,
      poolItems: sampling.poolItems,
      poolWeight: sampling.poolWeight,
      groups,
      droppedUsers: sampling.droppedUsers,
      droppedPositives: Object.values(sampling.droppedPositives).reduce((a, b) => a + b, 0),
      groupsCut: audit.groupsCut,
      incompleteGroups: audit.incompleteGroups,
      duplicateNegatives: audit.duplicateNegatives,
      negativesOnInteractedItems: audit.negativesOnInteractedItems,
      negativesOutsidePool: audit.negativesOutsidePool,
    };
  }
  for (const { name, entity, split } of SPLIT_FILES) {
    const [row] = await queryObjects(
      con,
      `SELECT count(*) AS rows, COALESCE(sum(label), 0) AS positives, count(DISTINCT user_key) AS users FROM final WHERE entity = ${entity} AND split = '${split}'`,
    );
    const rows = Number(row!.rows);
    if (rows === 0 && name === "source/test") continue;
    const positives = Number(row!.positives);
    splits[name] = { rows, positives, ctr: rows ? positives / rows : null, users: Number(row!.users) };
    const sampling = sampled.find((s) => s.entity === ENTITY_NAMES[entity]);
    if (sampling) {
      splits[name].groupsCut = audits.get(sampling.entity)!.groupsCutBySplit[split] ?? 0;
      splits[name].droppedPositives = sampling.droppedPositives[split] ?? 0;
    }
  }
  // The source rows of the test split: a split rule's verdict, not a choice of the user's.
  const [left] = await queryObjects(
    con,
    `SELECT count(*) FILTER (WHERE split <> 'train') AS rows, COALESCE(sum(label) FILTER (WHERE split <> 'train'), 0) AS positives, count(*) AS total FROM final WHERE entity = 0 AND _neg = 0`,
  );
  const leftOutOfTraining: LeftOutOfTraining[] = [
    { entity: "source", rows: Number(left!.rows), positives: Number(left!.positives), share: Number(left!.rows) / Math.max(1, Number(left!.total)), reason: leftOutReason },
  ];
  const [users] = await queryObjects(
    con,
    `SELECT count(*) AS total, count(*) FILTER (WHERE s > 0) AS source, count(*) FILTER (WHERE t > 0) AS target, count(*) FILTER (WHERE s > 0 AND t > 0) AS both
     FROM (SELECT user_key, count(*) FILTER (WHERE entity = 0) AS s, count(*) FILTER (WHERE entity = 1) AS t FROM final GROUP BY 1)`,
  );
  const sequenceLength: DatasetStats["sequenceLength"] = {};
  for (const seq of sequences) {
    for (const [scope, where] of [
      ["target/test", "entity = 1 AND split = 'test'"],
      ["all", "TRUE"],
    ] as const) {
      const c = sqlIdent(seq.lengthColumn);
      const [q] = await queryObjects(
        con,
        `SELECT quantile_disc(${c}, 0.5) AS p50, quantile_disc(${c}, 0.9) AS p90, quantile_disc(${c}, 0.99) AS p99, avg(${c}) AS mean, avg((${c} = 0)::INTEGER) AS empty FROM final WHERE ${where}`,
      );
      sequenceLength[`${seq.name} (${scope})`] = {
        p50: Number(q!.p50 ?? 0),
        p90: Number(q!.p90 ?? 0),
        p99: Number(q!.p99 ?? 0),
        mean: Number(q!.mean ?? 0),
        emptyShare: Number(q!.empty ?? 0),
      };
    }
  }
  const groupCounts = async (where: string) => {
    const rows = await queryObjects(con, `SELECT DISTINCT user_key, user_clicks FROM final WHERE ${where}`);
    const counts: Record<string, number> = {};
    for (const label of groupLabels(thresholds)) counts[label] = 0;
    for (const r of rows) {
      const label = groupOf(Number(r.user_clicks), thresholds);
      counts[label] = (counts[label] ?? 0) + 1;
    }
    return counts;
  };
  return {
    splits,
    negatives,
    leftOutOfTraining,
    users: { total: Number(users!.total), source: Number(users!.source), target: Number(users!.target), inBoth: Number(users!.both) },
    sequenceLength,
    userGroups: { thresholds, all: await groupCounts("TRUE"), targetTest: await groupCounts("entity = 1 AND split = 'test'") },
  };
}
