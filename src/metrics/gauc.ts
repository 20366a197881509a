import { aucOfSortedRange, checkLengths, isPositive, scoreKeys, sortByScore, type Scores } from "./auc.ts";

/**
 * GAUC, paper eq. 17 (SPEC §4): Σ_u n_u·AUC_u / Σ_u n_u over the users that have at least one
 * positive and one negative; n_u = that user's impressions. Same tie rule as `auc`.
 */
export interface GaucResult {
  /** NaN when no user counts (or a score is NaN); serialises as null in JSON. */
  gauc: number;
  /** Users with both a positive and a negative. */
  usersCounted: number;
  /** Impressions of the counted users (the denominator Σ_u n_u). */
  impressionsCounted: number;
  /** Distinct users in the input. */
  usersTotal: number;
}

/** Largest user key accepted: keys index a dense counting array and share a word with the label. */
const MAX_USER_KEY = 2 ** 30 - 1;

/** Each user's AUC and impressions, users in ascending key order. */
export interface PerUserAuc {
  /** Keys of the users that have rows, ascending. */
  users: Int32Array;
  /** Rows of each user. */
  impressions: Uint32Array;
  /** Each user's AUC; NaN for a user with one class only. */
  auc: Float64Array;
  /** True when some score is NaN (the AUCs are then meaningless, the counts are not). */
  hasNaN: boolean;
}

/**
 * O(n) overall: radix sort by score (payload = user << 1 | label), then a stable counting sort by
 * user key, so that each user's rows form one slice already sorted by score; then one AUC walk per
 * slice. `userKey` holds dense non-negative ints; memory grows with the largest key.
 */
export function perUserAuc(scores: Scores, labels: ArrayLike<number>, userKey: Int32Array): PerUserAuc {
  checkLengths(scores, labels);
  const n = scores.length;
  if (userKey.length !== n) throw new Error(`metrics: ${n} scores but ${userKey.length} user keys`);

  let maxUser = -1;
  const payload = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const u = userKey[i]!;
    if (u < 0 || u > MAX_USER_KEY) throw new Error(`metrics: user key ${u} at row ${i} is outside [0, ${MAX_USER_KEY}]`);
    if (u > maxUser) maxUser = u;
    payload[i] = (u << 1) | (isPositive(labels[i]!) ? 1 : 0);
  }

  const keys = scoreKeys(scores);
  // With a NaN score the order is meaningless, but the user counts still are: rank everything as a
  // tie (all-zero keys) to get them.
  const byScore = keys.hasNaN ? { key: new Uint32Array(n), payload } : sortByScore(keys, payload);

  // Stable counting sort by user: start[u] = first row of user u; start[maxUser + 1] = n.
  const userSlots = maxUser + 1;
  const start = new Uint32Array(userSlots + 1);
  const k0 = byScore.key;
  const p0 = byScore.payload;
  for (let i = 0; i < n; i++) start[(p0[i]! >>> 1) + 1]!++;
  for (let u = 0; u < userSlots; u++) start[u + 1]! += start[u]!;
  const next = start.slice(0, userSlots);
  const key = new Uint32Array(n);
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const p = p0[i]!;
    const pos = next[p >>> 1]!++;
    key[pos] = k0[i]!;
    out[pos] = p;
  }
  const byUser = { key, payload: out };

  let present = 0;
  for (let u = 0; u < userSlots; u++) if (start[u + 1]! > start[u]!) present++;
  const result: PerUserAuc = { users: new Int32Array(present), impressions: new Uint32Array(present), auc: new Float64Array(present), hasNaN: keys.hasNaN };
  let j = 0;
  for (let u = 0; u < userSlots; u++) {
    const s = start[u]!;
    const e = start[u + 1]!;
    if (e === s) continue;
    result.users[j] = u;
    result.impressions[j] = e - s;
    result.auc[j] = aucOfSortedRange(byUser, s, e);
    j++;
  }
  return result;
}

export function gauc(scores: Scores, labels: ArrayLike<number>, userKey: Int32Array): GaucResult {
  const perUser = perUserAuc(scores, labels, userKey);
  let weighted = 0;
  let usersCounted = 0;
  let impressionsCounted = 0;
  for (let j = 0; j < perUser.users.length; j++) {
    const a = perUser.auc[j]!;
    if (Number.isNaN(a)) continue; // single-class user
    const m = perUser.impressions[j]!;
    usersCounted++;
    impressionsCounted += m;
    weighted += m * a;
  }
  const value = perUser.hasNaN || impressionsCounted === 0 ? NaN : weighted / impressionsCounted;
  return { gauc: value, usersCounted, impressionsCounted, usersTotal: perUser.users.length };
}
