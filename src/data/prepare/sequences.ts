import { join } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { ENTITY_NAMES } from "../batch.ts";
import { queryValue, sqlIdent, sqlString } from "../duck.ts";
import type { PreparedFeature, PreparedSequence } from "../schema.ts";

/**
 * Adds the behaviour sequences to `encoded`, giving `final`. For every sample and each entity e,
 * `seq_e` holds the rows (in e's item table) of the user's last `maxlen` clicks on e-items with
 * time strictly before the sample's time, newest first, 0-padded. The item table gives each item
 * row its id and shared features; it is written to `items/<entity>.parquet`.
 *
 * Done in linear steps instead of a join of every sample with every earlier click:
 *  1. number each user's e-clicks k = 1, 2, … in time order;
 *  2. for each click k, list the clicks k−maxlen+1 … k (a ROWS window), and keep, per click time,
 *     the list ending at the last click of that time;
 *  3. give each sample the list of the latest click time strictly before its own (an ASOF join).
 */
export async function addSequences(con: DuckDBConnection, features: PreparedFeature[], maxlen: number, outDir: string): Promise<PreparedSequence[]> {
  const shared = features.filter((f) => f.group === "shared");
  const sequences: PreparedSequence[] = [];
  const selects: string[] = [];
  const joins: string[] = [];
  for (const [code, entity] of ENTITY_NAMES.entries()) {
    const name = `seq_${entity}` as const;
    const elements: Record<string, string> = { item_id: `${entity}__item_id` };
    for (const f of shared) elements[f.name] = f.column;
    const items = sqlIdent(`items_${entity}`);
    const hist = sqlIdent(`hist_${entity}`);
    await con.run(`
      CREATE TABLE ${items} AS
      SELECT item_raw, (row_number() OVER (ORDER BY CAST(item_raw AS VARCHAR)))::INTEGER AS item_row,
             ${Object.entries(elements).map(([element, column]) => `any_value(${sqlIdent(column)}) AS ${sqlIdent(element)}`).join(", ")}
      FROM encoded WHERE entity = ${code} GROUP BY item_raw`);
    const itemsFile = `items/${entity}.parquet`;
    await con.run(
      `COPY (SELECT item_row, ${Object.keys(elements).map(sqlIdent).join(", ")} FROM ${items} ORDER BY item_row) TO ${sqlString(join(outDir, itemsFile))} (FORMAT parquet)`,
    );
    const itemCount = Number(await queryValue(con, `SELECT count(*) FROM ${items}`));
    await con.run(`
      CREATE TABLE ${hist} AS
      SELECT user_key, t, arg_max(rows, k) AS rows FROM (
        SELECT user_key, t, k, list(item_row ORDER BY k) OVER (PARTITION BY user_key ORDER BY k ROWS BETWEEN ${maxlen - 1} PRECEDING AND CURRENT ROW) AS rows
        FROM (SELECT e.user_key, e.t, i.item_row, row_number() OVER (PARTITION BY e.user_key ORDER BY e.t, e._row, e._neg) AS k
              FROM encoded e JOIN ${items} i USING (item_raw) WHERE e.entity = ${code} AND e.label = 1))
      GROUP BY user_key, t`);
    const alias = `h${code}`;
    joins.push(`ASOF LEFT JOIN ${hist} ${alias} ON ${alias}.user_key = e.user_key AND e.t > ${alias}.t`);
    const rowColumn = `${name}__item_row`;
    const lengthColumn = `${name}__length`;
    // The clicks as listed (oldest first, up to maxlen); writeSplits pads and orders them
    // (paddedSequence), so the wide fixed-size arrays are built only while writing the files.
    selects.push(`${alias}.rows AS ${sqlIdent(rowColumn)}`, `COALESCE(len(${alias}.rows), 0)::INTEGER AS ${sqlIdent(lengthColumn)}`);
    sequences.push({ name, entity, maxlen, elements, rowColumn, lengthColumn, itemsFile, itemCount });
  }
  // item_row of the sample's own item (in its entity's item table): not a feature, it lets anyone
  // check a sequence against the clicks it was built from.
  await con.run(`
    CREATE TABLE final AS
    SELECT e.*, i.item_row, ${selects.join(", ")}
    FROM encoded e
    JOIN (SELECT 0 AS entity, item_raw, item_row FROM items_source UNION ALL SELECT 1, item_raw, item_row FROM items_target) i
      ON i.entity = e.entity AND i.item_raw = e.item_raw
    ${joins.join(" ")}`);
  return sequences;
}

/** SQL turning a sequence column of `final` (a list, oldest first, or NULL) into its padded file form, newest first. */
export function paddedSequence(column: string, maxlen: number): string {
  const c = sqlIdent(column);
  return `COALESCE(list_resize(list_reverse(${c}), ${maxlen}, 0), list_resize([]::INTEGER[], ${maxlen}, 0))::INTEGER[${maxlen}] AS ${c}`;
}
