import { stat } from "node:fs/promises";
import type { DuckDBConnection } from "@duckdb/node-api";
import type { DatasetSpec } from "../../spec/dataset.ts";
import { FieldError, UserError } from "../../util/errors.ts";
import { fsProblem } from "../../util/files.ts";
import { queryObjects, sqlIdent } from "../duck.ts";
import { labelExpr, type EntitySources } from "./entities.ts";
import { checkRawFile } from "./raw.ts";

/**
 * The checks of the data that prepare makes besides each row's (entities.ts): the files before any
 * is read, each log's labels once loaded, the target splits once split. Each failure is one line
 * naming the data file or the spec field; none quotes the data.
 */

/** The tables a spec reads. */
export function usedTables(spec: DatasetSpec): string[] {
  const used = new Set([spec.entities.source.table, spec.entities.target.table]);
  for (const e of [spec.entities.source, spec.entities.target]) if (e.items) used.add(e.items.table);
  if (spec.users) used.add(spec.users.table);
  return [...used];
}

/** raw_dir is a directory and every table the spec reads is a readable, non-empty file of its format. Reads no rows, writes nothing. */
export async function checkRawFiles(spec: DatasetSpec, rawDir: string): Promise<void> {
  const info = await stat(rawDir).catch((error: NodeJS.ErrnoException) => {
    throw new FieldError("raw_dir", `${rawDir} ${fsProblem(error.code)}`);
  });
  if (!info.isDirectory()) throw new FieldError("raw_dir", `${rawDir} is not a directory`);
  // Tables are defined for every name used (the spec's rules check it).
  for (const name of usedTables(spec)) await checkRawFile(name, spec.tables[name]!, rawDir);
}

/**
 * A log with real labels (no sampled negatives) holds both positives and negatives: with one class
 * only there is nothing to learn and AUC is undefined.
 */
export async function checkLabelClasses(con: DuckDBConnection, spec: DatasetSpec, sources: readonly EntitySources[]): Promise<void> {
  for (const { entity, log } of sources) {
    const e = spec.entities[entity];
    if (e.negatives || !e.label) continue;
    const [counts] = await queryObjects(con, `SELECT count(*) AS n, count(*) FILTER (WHERE ${labelExpr(e, "label_raw")} = 1) AS positives FROM ${sqlIdent(`ent_${entity}`)}`);
    const n = Number(counts!.n);
    const positives = Number(counts!.positives);
    const rule = e.label.rule ? ` (rule '${e.label.rule.trim()}')` : "";
    if (positives === 0 || positives === n) {
      throw new UserError(
        `${log.file}: column ${e.label.column}: ${positives === 0 ? "no row is a positive" : "every row is a positive"}${rule}; the ${entity} log needs both labels` +
          (positives === n ? " (a log of positives only needs negatives: { per_positive: k } in the spec)" : ""),
      );
    }
  }
}

/**
 * Every target split (train, valid, test) has positives and negatives: the model trains, stops early
 * and is scored on them. The source training split is not empty: it is what the source side learns from.
 */
export async function checkSplits(con: DuckDBConnection): Promise<void> {
  const rows = await queryObjects(con, "SELECT entity, split, count(*) AS n, count(*) FILTER (WHERE label = 1) AS positives FROM samples GROUP BY ALL");
  const counts = (entity: number, split: string) => {
    const row = rows.find((r) => Number(r.entity) === entity && r.split === split);
    return { n: Number(row?.n ?? 0), positives: Number(row?.positives ?? 0) };
  };
  if (counts(0, "train").n === 0) throw new FieldError("split", "the source training split is empty (every source row falls after the target's training rows)");
  for (const split of ["train", "valid", "test"]) {
    const { n, positives } = counts(1, split);
    const problem = n === 0 ? "is empty" : positives === 0 ? `has no positive rows (of ${n})` : positives === n ? `has no negative rows (all ${n} are positives)` : undefined;
    if (problem) throw new FieldError("split", `the target ${split} split ${problem}; it needs both labels (AUC): check the target log's labels or choose another split`);
  }
}
