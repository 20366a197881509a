import type { DuckDBConnection } from "@duckdb/node-api";
import type { DatasetSpec } from "../../spec/dataset.ts";
import { FieldError } from "../../util/errors.ts";
import { ENTITY_NAMES, type EntityName } from "../batch.ts";
import { queryObjects, queryValue, sqlIdent } from "../duck.ts";
import type { FieldPlan } from "./entities.ts";

/** What negative sampling did for one entity (a log of positives only). */
export interface NegativeSampling {
  entity: EntityName;
  perPositive: number;
  strategy: "uniform" | "popularity";
  /** Items negatives are drawn from: the entity's logged items (uniform), or those with a training positive (popularity). */
  poolItems: number;
  /** Sum of the pool's weights: its items (uniform) or the entity's training positives (popularity). */
  poolWeight: number;
  /** Users who interacted with all but fewer than per_positive of the pool's items: their positives are dropped. */
  droppedUsers: number;
  /** Positives dropped (with their would-be negatives) per split, for that reason. */
  droppedPositives: Record<string, number>;
}

/**
 * A 64-bit pseudo-random number for each distinct value of `key` (a non-negative integer expression)
 * under a salt. DuckDB's hash of several values mixes them weakly (hash(…, 3) and hash(…, 6)
 * correlate at 0.99 in their high bits), its hash of one integer well: so the salt's hash is xor-ed
 * into the key and the result hashed once.
 */
function randomBits(salt: (string | number)[], key: string): string {
  return `hash(xor(hash(${salt.join(", ")}), (${key})::UBIGINT))`;
}

/** Rejection rounds before the groups still short of negatives are completed by an exact draw over their candidates. */
const REJECTION_ROUNDS = 4;
/** Most draws for one group in one round (a user who interacted with nearly all the pool's weight is left to the exact completion). */
const MAX_DRAWS = 4096;
/** Orders the negatives of a group: draws of round r come after those of round r − 1 (> MAX_DRAWS). */
const ROUND_STRIDE = 1_000_000;

/**
 * Adds the negatives of one entity's positives to `samples`, after the split: each positive gets
 * `per_positive` negatives in its own split (same user, time and slice), so a positive and its
 * negatives never straddle splits and every split's CTR is exactly 1/(1 + per_positive).
 *
 * The negatives of one positive are distinct items of the entity's pool that the user never
 * interacted with (in any split), drawn without replacement with probability proportional to their
 * weight (1, or the item's training positives): successive draws from the weighted pool, rejecting
 * an item the user interacted with or the group already holds. A few rounds of such draws (more
 * draws for a user who interacted with more of the pool's weight) fill nearly every group; the rare
 * groups still short (a user left with few candidates) are completed by the exact equivalent over
 * their explicit candidates (Efraimidis–Spirakis keys u^(1/w)). Every draw is a hash of (seed,
 * entity, row, round, draw): the same spec gives the same negatives. A user left with fewer
 * candidates than per_positive cannot get a full group: their positives of this entity are dropped
 * and counted.
 */
export async function addSampledNegatives(
  con: DuckDBConnection,
  spec: DatasetSpec,
  entity: EntityName,
  own: FieldPlan[],
  /** Tests set 0 to check the exact completion on its own. */
  rejectionRounds = REJECTION_ROUNDS,
): Promise<NegativeSampling> {
  const negatives = spec.entities[entity].negatives!;
  const k = negatives.per_positive;
  const code = ENTITY_NAMES.indexOf(entity);
  const seed = spec.seed;
  const table = (name: string) => sqlIdent(`neg_${name}_${entity}`);
  const [pool, slots, interacted, groups, chosen] = [table("pool"), table("slots"), table("interacted"), table("groups"), table("chosen")];
  const itemCols = own.filter((p) => p.group !== "user").map((p) => sqlIdent(p.column));
  const userCols = own.filter((p) => p.group === "user").map((p) => sqlIdent(p.column));
  // Here `samples` holds only logged rows: for this entity, its positives.
  const weight = negatives.strategy === "uniform" ? "1" : "count(*) FILTER (WHERE split = 'train')";
  // An item's fields: those of its first logged row. Items ordered by their text form (as everywhere ids are decided).
  await con.run(`
    CREATE TABLE ${pool} AS
    SELECT *, (sum(w) OVER (ORDER BY item_idx) - w)::BIGINT AS lo FROM (
      SELECT *, row_number() OVER (ORDER BY CAST(item_raw AS VARCHAR)) AS item_idx FROM (
        SELECT item_raw, ${itemCols.map((c) => `min_by(${c}, _row) AS ${c}, `).join("")}${weight} AS w
        FROM samples WHERE entity = ${code} GROUP BY item_raw)
      WHERE w > 0)`);
  const [totals] = await queryObjects(con, `SELECT count(*) AS items, COALESCE(sum(w), 0) AS weight FROM ${pool}`);
  const poolItems = Number(totals!.items);
  const poolWeight = Number(totals!.weight);
  if (poolItems <= k) {
    const what = negatives.strategy === "uniform" ? "items in its log" : "items with a training positive";
    throw new FieldError(`entities.${entity}.negatives.per_positive`, `the ${entity} entity has ${poolItems} ${what}, too few to draw ${k} negatives per positive`);
  }
  // One slot per unit of weight: a draw x in [0, poolWeight) is the item of slot x (an equality join).
  await con.run(`CREATE TEMP TABLE ${slots} AS SELECT item_idx, unnest(range(lo, lo + w)) AS x FROM ${pool}`);
  await con.run(`CREATE TEMP TABLE ${interacted} AS SELECT DISTINCT s.user_raw, p.item_idx FROM samples s JOIN ${pool} p USING (item_raw) WHERE s.entity = ${code}`);
  // Users with fewer than k items of the pool left to draw from.
  const shortUsers = `SELECT user_raw FROM ${interacted} GROUP BY user_raw HAVING ${poolItems} - count(*) < ${k}`;
  const dropped = await queryObjects(con, `SELECT split, count(*) AS n FROM samples WHERE entity = ${code} AND user_raw IN (${shortUsers}) GROUP BY split`);
  const droppedUsers = Number(await queryValue(con, `SELECT count(*) FROM (${shortUsers})`));
  // The groups to fill, with 1 / the share of the pool's weight their user has not interacted with:
  // a round draws that many times the negatives still needed (+ 2), so that most groups fill at once.
  await con.run(`
    CREATE TEMP TABLE ${groups} AS
    SELECT s._row, s.user_raw, ${poolWeight}::DOUBLE / (${poolWeight} - COALESCE(u.taken, 0)) AS spread
    FROM samples s LEFT JOIN (SELECT i.user_raw, sum(p.w) AS taken FROM ${interacted} i JOIN ${pool} p USING (item_idx) GROUP BY 1) u USING (user_raw)
    WHERE s.entity = ${code} AND s.user_raw NOT IN (${shortUsers})`);
  await con.run(`CREATE TEMP TABLE ${chosen} (_row BIGINT, item_idx BIGINT, ord BIGINT)`);
  const short = `SELECT g._row, g.user_raw, g.spread, ${k} - count(c._row) AS need FROM ${groups} g LEFT JOIN ${chosen} c USING (_row) GROUP BY g._row, g.user_raw, g.spread HAVING need > 0`;
  // A candidate is an item the user never interacted with and the group does not hold yet.
  const candidatesOnly = (alias: string) =>
    `ANTI JOIN ${interacted} i ON i.user_raw = ${alias}.user_raw AND i.item_idx = ${alias}.item_idx ANTI JOIN ${chosen} c ON c._row = ${alias}._row AND c.item_idx = ${alias}.item_idx`;
  for (let round = 0; round < rejectionRounds; round++) {
    // Draws with replacement; of the candidates drawn, each item's first draw counts, and the first `need` of those.
    await con.run(`
      INSERT INTO ${chosen}
      SELECT _row, item_idx, ${round * ROUND_STRIDE} + j FROM (
        SELECT _row, item_idx, min(j) AS j, any_value(need) AS need FROM (
          SELECT d.* FROM (
            SELECT d._row, d.user_raw, d.need, d.j, p.item_idx FROM (
              SELECT *, (${randomBits([seed, code, round], `_row * ${MAX_DRAWS} + j`)} % ${poolWeight})::BIGINT AS x FROM (
                SELECT _row, user_raw, need, unnest(range(least(${MAX_DRAWS}, ceil((need + 2) * spread)::BIGINT))) AS j FROM (${short}))
            ) d JOIN ${slots} p USING (x)
          ) d ${candidatesOnly("d")}
        ) GROUP BY _row, item_idx)
      QUALIFY row_number() OVER (PARTITION BY _row ORDER BY j) <= need`);
  }
  // Exact completion of the groups still short: the largest keys ln(u)/w among their candidates.
  await con.run(`
    INSERT INTO ${chosen}
    SELECT _row, item_idx, ${rejectionRounds * ROUND_STRIDE} + rank FROM (
      SELECT *, row_number() OVER (PARTITION BY _row ORDER BY ln(((${randomBits([seed, code, "'exact'"], `_row * ${poolItems + 1} + item_idx`)} >> 11)::DOUBLE + 0.5) / 9007199254740992) / w DESC, item_idx) AS rank
      FROM (SELECT g.*, p.item_idx, p.w FROM (${short}) g CROSS JOIN ${pool} p) g ${candidatesOnly("g")})
    WHERE rank <= need`);
  const unfilled = Number(await queryValue(con, `SELECT count(*) FROM (${short})`));
  if (unfilled > 0) throw new Error(`negative sampling of ${entity}: ${unfilled} groups short of ${k} negatives`);

  await con.run(`
    INSERT INTO samples BY NAME
    SELECT s.entity, s._row, c._neg, s.user_raw, p.item_raw, s.t, 0 AS label, s.slice, s.split,
           ${[...userCols.map((col) => `s.${col}`), ...itemCols.map((col) => `p.${col}`)].join(", ")}
    FROM (SELECT _row, item_idx, row_number() OVER (PARTITION BY _row ORDER BY ord) AS _neg FROM ${chosen}) c
    JOIN samples s ON s.entity = ${code} AND s._row = c._row
    JOIN ${pool} p USING (item_idx)`);
  await con.run(`DELETE FROM samples WHERE entity = ${code} AND user_raw IN (${shortUsers})`);
  await con.run(`DROP TABLE ${slots}; DROP TABLE ${interacted}; DROP TABLE ${groups}; DROP TABLE ${chosen}`);
  return {
    entity,
    perPositive: k,
    strategy: negatives.strategy,
    poolItems,
    poolWeight,
    droppedUsers,
    droppedPositives: Object.fromEntries(dropped.map((r) => [String(r.split), Number(r.n)])),
  };
}

/** Checks of the written rows of an entity with sampled negatives; each must be 0. */
export interface NegativeAudit {
  /** Groups (a positive and its negatives) with rows in more than one split. */
  groupsCut: number;
  /** Groups cut, per split the group has a row in. */
  groupsCutBySplit: Record<string, number>;
  /** Groups with other than per_positive negatives. */
  incompleteGroups: number;
  /** Negatives repeating an item of their group. */
  duplicateNegatives: number;
  /** Negatives on an item the user interacted with (any split). */
  negativesOnInteractedItems: number;
  /** Negatives on an item outside the pool (under popularity: an item without training positives). */
  negativesOutsidePool: number;
}

/** Audits `final` (the rows written) against the rules of negative sampling. */
export async function auditNegatives(con: DuckDBConnection, sampling: NegativeSampling): Promise<NegativeAudit> {
  const code = ENTITY_NAMES.indexOf(sampling.entity);
  const pool = sqlIdent(`neg_pool_${sampling.entity}`);
  const groups = `SELECT _row, count(DISTINCT split) AS splits, count(*) - 1 AS negatives, count(*) - count(DISTINCT item_raw) AS repeats, list(DISTINCT split) AS in_splits FROM final WHERE entity = ${code} GROUP BY _row`;
  const [g] = await queryObjects(
    con,
    `SELECT count(*) FILTER (WHERE splits > 1) AS cut, count(*) FILTER (WHERE negatives <> ${sampling.perPositive}) AS incomplete, COALESCE(sum(repeats), 0) AS repeats FROM (${groups})`,
  );
  const bySplit = await queryObjects(con, `SELECT split, count(*) AS n FROM (SELECT unnest(in_splits) AS split FROM (${groups}) WHERE splits > 1) GROUP BY split`);
  const [n] = await queryObjects(
    con,
    `SELECT count(*) FILTER (WHERE EXISTS (SELECT 1 FROM ${sqlIdent(`log_${sampling.entity}`)} l WHERE l.user_raw = f.user_raw AND l.item_raw = f.item_raw)) AS interacted,
            count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM ${pool} p WHERE p.item_raw = f.item_raw)) AS outside
     FROM (SELECT f.item_raw, u.user_raw FROM final f JOIN users u USING (user_key) WHERE f.entity = ${code} AND f._neg > 0) f`,
  );
  return {
    groupsCut: Number(g!.cut),
    groupsCutBySplit: Object.fromEntries(bySplit.map((r) => [String(r.split), Number(r.n)])),
    incompleteGroups: Number(g!.incomplete),
    duplicateNegatives: Number(g!.repeats),
    negativesOnInteractedItems: Number(n!.interacted),
    negativesOutsidePool: Number(n!.outside),
  };
}
