import type { DuckDBConnection } from "@duckdb/node-api";
import { ENTITY_NAMES } from "../batch.ts";
import { sqlIdent } from "../duck.ts";
import type { PreparedFeature, PreparedSequence } from "../schema.ts";

/**
 * Adds the behaviour sequences to `encoded`, giving `final`. For every sample and each entity e,
 * `seq_e` holds the user's last `maxlen` clicks on e-items with time strictly before the sample's
 * time, newest first, 0-padded; each element carries the item id and the item's shared features.
 *
 * Done in three linear steps instead of a join of every sample with every earlier click:
 *  1. number each user's e-clicks k = 1, 2, … in time order;
 *  2. for each click k, list the clicks k−maxlen+1 … k (a ROWS window);
 *  3. for each sample, count the user's e-clicks strictly before its time (a running sum minus the
 *     clicks sharing its time) and join the list of that click number.
 */
export async function addSequences(con: DuckDBConnection, features: PreparedFeature[], maxlen: number): Promise<PreparedSequence[]> {
  const shared = features.filter((f) => f.group === "shared");
  const sequences: PreparedSequence[] = [];
  const selects: string[] = [];
  const joins: string[] = [];
  for (const [code, entity] of ENTITY_NAMES.entries()) {
    const name = `seq_${entity}` as const;
    const elements: Record<string, string> = { item_id: `${entity}__item_id` };
    for (const f of shared) elements[f.name] = f.column;
    const columns: Record<string, string> = {};
    for (const element of Object.keys(elements)) columns[element] = `${name}__${element}`;
    const clicks = sqlIdent(`clicks_${entity}`);
    const hist = sqlIdent(`hist_${entity}`);
    const elementCols = Object.values(elements).map(sqlIdent);
    await con.run(`
      CREATE TABLE ${clicks} AS
      SELECT user_key, row_number() OVER (PARTITION BY user_key ORDER BY t, _row, _neg) AS k, ${elementCols.join(", ")}
      FROM encoded WHERE entity = ${code} AND label = 1`);
    await con.run(`
      CREATE TABLE ${hist} AS
      SELECT user_key, k, ${Object.entries(elements)
        .map(([element, column]) => `list(${sqlIdent(column)} ORDER BY k) OVER w AS ${sqlIdent(element)}`)
        .join(", ")}
      FROM ${clicks}
      WINDOW w AS (PARTITION BY user_key ORDER BY k ROWS BETWEEN ${maxlen - 1} PRECEDING AND CURRENT ROW)`);
    const before = sqlIdent(`before_${entity}`);
    await con.run(`ALTER TABLE encoded ADD COLUMN ${before} INTEGER`);
    await con.run(`
      UPDATE encoded SET ${before} = c.n FROM (
        SELECT entity AS ce, _row AS cr, _neg AS cn,
               sum(is_click) OVER (PARTITION BY user_key ORDER BY t RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
               - sum(is_click) OVER (PARTITION BY user_key, t) AS n
        FROM (SELECT entity, _row, _neg, user_key, t, (entity = ${code} AND label = 1)::INTEGER AS is_click FROM encoded)) c
      WHERE encoded.entity = c.ce AND encoded._row = c.cr AND encoded._neg = c.cn`);
    const alias = `h${code}`;
    joins.push(`LEFT JOIN ${hist} ${alias} ON ${alias}.user_key = e.user_key AND ${alias}.k = e.${before}`);
    for (const [element, column] of Object.entries(columns)) {
      selects.push(
        `COALESCE(list_resize(list_reverse(${alias}.${sqlIdent(element)}), ${maxlen}, 0), list_resize([]::INTEGER[], ${maxlen}, 0))::INTEGER[${maxlen}] AS ${sqlIdent(column)}`,
      );
    }
    const lengthColumn = `${name}__length`;
    selects.push(`least(e.${before}, ${maxlen})::INTEGER AS ${sqlIdent(lengthColumn)}`);
    sequences.push({ name, entity, maxlen, elements, columns, lengthColumn });
  }
  await con.run(`CREATE TABLE final AS SELECT e.*, ${selects.join(", ")} FROM encoded e ${joins.join(" ")}`);
  return sequences;
}
