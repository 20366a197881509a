import { createHash } from "node:crypto";
import { mkdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { DatasetSpec } from "../../spec/dataset.ts";
import { buildDirAtomic, writeJsonAtomic } from "../../util/atomic.ts";
import { UserError } from "../../util/errors.ts";
import { waitForLock } from "../../util/lock.ts";
import { log } from "../../util/log.ts";
import { openDuck, queryValue } from "../duck.ts";
import { generateSynthetic } from "../generator.ts";
import { PREPARED_FORMAT_VERSION, SCHEMA_FILE, STATS_FILE, type PreparedSchema } from "../schema.ts";
import { buildEntityTable, locateEntitySources, nativeValues, planFields, type BadRowCounts } from "./entities.ts";
import { fitAndEncode } from "./features.ts";
import { loadRawTable, type LoadedTable } from "./raw.ts";
import { buildSamples } from "./samples.ts";
import { addSequences } from "./sequences.ts";
import { addTrueProbability, entitiesWithTrueProbability, TRUE_PROBABILITY } from "./true-probability.ts";
import { computeStats, fingerprintFiles, sampleColumns, writeSplits, type DatasetStats } from "./write.ts";

export interface PrepareOptions {
  /** Root of mkt's outputs: prepared data goes to `<outRoot>/prepared/<name>`, generated raw tables to `<outRoot>/raw/<name>`. */
  outRoot: string;
  /** Prepare again even if a prepared dataset with the same spec hash exists. */
  force?: boolean;
}

export interface PrepareResult {
  dir: string;
  schema: PreparedSchema;
  stats: DatasetStats;
  /** False when an up-to-date prepared dataset was found and reused. */
  prepared: boolean;
}

export function specHash(spec: DatasetSpec): string {
  return createHash("sha256").update(JSON.stringify(spec)).digest("hex");
}

export function preparedDir(spec: DatasetSpec, outRoot: string): string {
  return resolve(outRoot, "prepared", spec.name);
}

/**
 * `mkt prepare`: raw tables → the prepared dataset of SPEC §1, built in a temporary directory that
 * is renamed into place only when complete. With a generator, the raw tables are generated first.
 */
export async function prepareDataset(spec: DatasetSpec, specDir: string, options: PrepareOptions): Promise<PrepareResult> {
  const dir = preparedDir(spec, options.outRoot);
  // Two processes starting on the same dataset (two `mkt run`s sharing a run): one prepares, the
  // other waits and then reuses what it wrote.
  const lock = await waitForLock(`${dir}.lock`, (owner) => log().info({ dir, heldBy: owner }, "another process is preparing this dataset: waiting"));
  try {
    return await prepareLocked(spec, specDir, options, dir);
  } finally {
    await lock.release();
  }
}

async function prepareLocked(spec: DatasetSpec, specDir: string, options: PrepareOptions, dir: string): Promise<PrepareResult> {
  const hash = specHash(spec);
  if (!options.force) {
    const existing = await readExisting(dir);
    // Reuse only a dataset prepared from this very spec by this layout version.
    if (existing?.schema.specHash === hash && existing.schema.version === PREPARED_FORMAT_VERSION) return { dir, ...existing, prepared: false };
  }
  const rawDir = await resolveRawDir(spec, specDir, options.outRoot);
  const started = performance.now();
  return buildDirAtomic(dir, async (tmp) => {
    const duck = await openDuck({ tempDir: join(tmp, ".duckdb-spill") });
    try {
      const con = duck.con;
      const badRows: BadRowCounts = {};
      const used = new Set([spec.entities.source.table, spec.entities.target.table]);
      for (const e of [spec.entities.source, spec.entities.target]) if (e.items) used.add(e.items.table);
      if (spec.users) used.add(spec.users.table);
      const steps: Record<string, number> = {};
      let last = performance.now();
      // Wall seconds per step, kept in stats.json (where prepare's time goes).
      const step = (name: string) => {
        const now = performance.now();
        steps[name] = (now - last) / 1000;
        last = now;
      };
      const tables = new Map<string, LoadedTable>();
      for (const name of used) {
        const table = spec.tables[name];
        if (!table) throw new UserError(`dataset spec: tables.${name}: the table is referenced but not defined under tables`);
        tables.set(name, await loadRawTable(con, name, table, rawDir, spec.on_bad_rows));
      }
      step("load raw tables");
      // Row order matters only while raw rows get their numbers (above); from here on DuckDB may reorder freely.
      await con.run("SET preserve_insertion_order = false");
      const plans = planFields(spec);
      const sources = (["source", "target"] as const).map((entity) => locateEntitySources(spec, entity, tables, plans));
      const native = nativeValues(sources);
      for (const entitySources of sources) await buildEntityTable(con, spec, entitySources, native, badRows);
      const rawRows = Number(await queryValue(con, "SELECT (SELECT count(*) FROM ent_source) + (SELECT count(*) FROM ent_target)"));
      step("entity tables");
      await buildSamples(con, spec, plans);
      step("samples");
      await mkdir(join(tmp, "vocab"), { recursive: true });
      await mkdir(join(tmp, "items"), { recursive: true });
      const features = await fitAndEncode(con, spec, plans, tmp);
      step("vocabularies, buckets, encoding");
      const sequences = await addSequences(con, features, spec.sequence_maxlen, tmp);
      step("sequences");
      const withTrueProbability = entitiesWithTrueProbability(spec);
      if (withTrueProbability.length > 0) await addTrueProbability(con, spec);
      const columns = [...sampleColumns(features, sequences), ...(withTrueProbability.length > 0 ? [TRUE_PROBABILITY] : [])];
      const splits = await writeSplits(con, tmp, columns, sequences, spec.seed);
      step("write splits");
      const schema: PreparedSchema = {
        version: PREPARED_FORMAT_VERSION,
        dataset: spec.name,
        specHash: hash,
        entities: {
          source: { name: spec.entities.source.name, specificColumns: features.filter((f) => f.entity === "source").map((f) => f.column) },
          target: { name: spec.entities.target.name, specificColumns: features.filter((f) => f.entity === "target").map((f) => f.column) },
        },
        features,
        sequences,
        userGroups: spec.user_groups,
        splits,
        ...(withTrueProbability.length > 0 ? { trueProbability: { column: TRUE_PROBABILITY, entities: withTrueProbability } } : {}),
        split:
          spec.split.by === "time"
            ? { by: "time", detail: `target test = last time slice of ${spec.split.slice_seconds} s, valid = the slice before; source rows of those slices are not trained on` }
            : {
                by: "user_order",
                detail: `no time column: per-user file order; each user's last ${spec.split.test_fraction} of target rows → test, the ${spec.split.valid_fraction} before → valid; source rows after a user's first held-out target row are not trained on`,
              },
      };
      const fingerprint = await fingerprintFiles(tmp, Object.values(splits).map((s) => s.file));
      step("fingerprint");
      const computed = await computeStats(con, sequences, spec.user_groups);
      step("stats");
      const stats: DatasetStats = {
        dataset: spec.name,
        fingerprint,
        rawRows,
        ...computed,
        badRows,
        seconds: (performance.now() - started) / 1000,
        stepSeconds: steps,
      };
      await writeJsonAtomic(join(tmp, SCHEMA_FILE), schema);
      await writeJsonAtomic(join(tmp, STATS_FILE), stats);
      log().info({ dataset: spec.name, rawRows, seconds: stats.seconds }, "prepared");
      return { dir, schema, stats, prepared: true };
    } finally {
      duck.close();
    }
  });
}

async function readExisting(dir: string): Promise<{ schema: PreparedSchema; stats: DatasetStats } | undefined> {
  try {
    const schema = JSON.parse(await readFile(join(dir, SCHEMA_FILE), "utf8")) as PreparedSchema;
    const stats = JSON.parse(await readFile(join(dir, STATS_FILE), "utf8")) as DatasetStats;
    return { schema, stats };
  } catch {
    return undefined;
  }
}

/** Raw tables: generated under `<outRoot>/raw/<name>` (once per generator setting), or read from raw_dir. */
async function resolveRawDir(spec: DatasetSpec, specDir: string, outRoot: string): Promise<string> {
  if (!spec.generator) {
    if (!spec.raw_dir) throw new UserError("dataset spec: raw_dir: required (the directory of the raw tables, relative to the spec file)");
    return resolve(specDir, spec.raw_dir);
  }
  const rawDir = spec.raw_dir ? resolve(specDir, spec.raw_dir) : resolve(outRoot, "raw", spec.name);
  const marker = join(rawDir, "generator.json");
  const wanted = JSON.stringify(spec.generator);
  const existing = await readFile(marker, "utf8").catch(() => undefined);
  if (!existing || JSON.stringify(JSON.parse(existing)) !== wanted) {
    await buildDirAtomic(rawDir, async (tmp) => {
      const counts = await generateSynthetic(spec.generator!, tmp);
      log().info({ dataset: spec.name, ...counts }, "generated synthetic raw tables");
      await writeJsonAtomic(join(tmp, "generator.json"), spec.generator);
    });
  }
  return rawDir;
}
