import type { DuckDBConnection } from "@duckdb/node-api";
import type { DatasetSpec, EntitySpec } from "../../spec/dataset.ts";
import { ENTITY_NAMES, type EntityName } from "../batch.ts";
import { sqlIdent } from "../duck.ts";

/**
 * The true click probability of generated data (an entity's `true_probability_column`), carried
 * from the raw log into the prepared split files as the non-feature column `p_true`, so that the
 * Oracle row of Table 2 can score with it. Kept apart from the rest of prepare: the raw value rides
 * along in `ent_<entity>` (checked like every raw value) and is joined onto `final` by raw row
 * just before the splits are written.
 */

/** Column of the prepared split files. */
export const TRUE_PROBABILITY = "p_true";

/** Its name in `ent_<entity>`. */
export const TRUE_PROBABILITY_RAW = "p_true_raw";

/** Entities whose log has a true probability column. */
export function entitiesWithTrueProbability(spec: DatasetSpec): EntityName[] {
  return ENTITY_NAMES.filter((e) => spec.entities[e].true_probability_column !== undefined);
}

/** The bad-row check of the raw value: a number in [0, 1]. */
export function trueProbabilityCheck(e: EntitySpec): { reason: string; column: string; condition: string }[] {
  if (e.true_probability_column === undefined) return [];
  const p = `TRY_CAST(${sqlIdent(TRUE_PROBABILITY_RAW)} AS DOUBLE)`;
  return [{ reason: "true probability is not a number in [0, 1]", column: e.true_probability_column, condition: `${p} IS NULL OR NOT (${p} BETWEEN 0 AND 1)` }];
}

/** Adds `p_true` to `final` (NULL for an entity without it) from each entity's raw rows. */
export async function addTrueProbability(con: DuckDBConnection, spec: DatasetSpec): Promise<void> {
  const entities = entitiesWithTrueProbability(spec);
  await con.run(`ALTER TABLE final ADD COLUMN ${TRUE_PROBABILITY} DOUBLE`);
  const raw = entities
    .map((e) => `SELECT ${ENTITY_NAMES.indexOf(e)} AS entity, _row, CAST(${sqlIdent(TRUE_PROBABILITY_RAW)} AS DOUBLE) AS p FROM ${sqlIdent(`ent_${e}`)}`)
    .join(" UNION ALL ");
  await con.run(`UPDATE final SET ${TRUE_PROBABILITY} = r.p FROM (${raw}) r WHERE final.entity = r.entity AND final._row = r._row`);
}
