import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { SyntheticGeneratorSpec } from "../spec/dataset.ts";
import { appendColumns, openDuck, sqlString } from "./duck.ts";
import { mulberry32, normalSource, sigmoid, weightedSampler } from "../util/random.ts";

/**
 * The synthetic two-entity feed (the built-in default dataset). Users have a latent taste (derived
 * partly from their age bucket and gender, so profile fields carry signal); items get a vector from
 * their category, which both entities share. A click's logit on entity e (source s, target t) is
 *
 *   intercept_e + scale_e · ( taste_weight · (taste_u^e(day) · item vector)
 *                             + creator quality + user bias + entity effects
 *                             + interaction_weight · M[city_u, category_i]
 *                             + sequence_weight · [category_i = interest_u(day)]
 *                             + specific_latent_weight · w_u · a_i )
 *
 * where the entity effects are price sensitivity and condition for source items, style and
 * media-type preference for target items; scale_s = source_logit_scale, scale_t = 1. The knobs
 * (docs/data.md says what each plants for which model):
 * - taste_correlation ρ: taste^t = ρ·taste^s + √(1−ρ²)·(an independent taste of the same law);
 * - taste_drift δ: each day, taste ← √(1−δ)·taste + √δ·(fresh noise of the taste's spread);
 * - specific_latent_weight: a_i is one item latent that source items show as their price and target
 *   items as their length; w_u is the user's preference for it, the same in both entities;
 * - interaction_weight: M is a random city × category table (a pairwise field interaction);
 * - sequence_weight: interest_u(day) is a category the user favours that day (drawn uniformly, kept
 *   from one day to the next with probability 0.8), visible only through the user's recent clicks;
 * - label_noise η: the label of a share η of impressions is drawn from the entity's CTR alone.
 * Intercepts are calibrated to the wanted CTRs. `p_true` = P(label = 1) =
 * (1 − η)·sigmoid(logit) + η·CTR_e is written beside each label.
 *
 * Everything is drawn from seeded PRNGs: the same spec gives byte-identical tables. The draws of
 * the original generator come from one stream in their original order and each knob draws from a
 * stream of its own, so with every knob neutral the tables are those of the generator before the
 * knobs existed, and turning one knob changes only its own term.
 */

export const SYNTHETIC_TABLES = {
  users: "users.parquet",
  sourceItems: "source_items.parquet",
  targetItems: "target_items.parquet",
  sourceImpressions: "source_impressions.parquet",
  targetImpressions: "target_impressions.parquet",
} as const;

/** Column of the impression tables holding each row's true click probability. */
export const TRUE_PROBABILITY_COLUMN = "p_true";

const GENDERS = 2;
const AGE_BUCKETS = 6;
const CITIES = 30;
const CONDITIONS = ["new", "like_new", "used"] as const;
const STYLES = ["tutorial", "review", "story", "meme"] as const;
const MEDIA = ["image", "video"] as const;
/** Day 0 starts at a multiple of 86,400 s so that daily time slices are calendar days. */
const EPOCH_DAY0 = 19_700 * 86_400;
/** A taste coordinate is 0.6·(age centroid) + 0.3·(gender centroid) + 0.7·noise: its variance. */
const TASTE_VARIANCE = 0.6 ** 2 + 0.3 ** 2 + 0.7 ** 2;
/** Probability that a user's interest of the day is kept the next day. */
const INTEREST_KEPT = 0.8;

/** Streams of the knobs, one each, so that one knob's draws never shift another's. */
const STREAM = { targetTaste: 1, drift: 2, specificLatent: 3, interaction: 4, interest: 5, labelNoise: 6 } as const;

export interface GeneratedCounts {
  users: number;
  sourceImpressions: number;
  targetImpressions: number;
  sourceClicks: number;
  targetClicks: number;
}

/** Everything the generator drew: the tables' content and the latents behind them (tests read these). */
export interface Simulation {
  users: { gender: Int32Array; age: Int32Array; city: Int32Array };
  sourceItems: { category: Int32Array; creator: Int32Array; logPrice: Float64Array; condition: Int32Array };
  targetItems: { category: Int32Array; creator: Int32Array; style: Int32Array; media: Int32Array; length: Float64Array };
  impressions: {
    /** 1 for a target impression. */
    isTarget: Uint8Array;
    /** 0-based user and item (within its entity) indices. */
    user: Int32Array;
    item: Int32Array;
    /** Epoch seconds. */
    ts: Float64Array;
    /** Day index of ts, 0-based. */
    day: Int32Array;
    /** P(click = 1) of the row. */
    pTrue: Float64Array;
    click: Int32Array;
  };
  latents: {
    /** taste^e of user u on day k: taste[e][k][u·d + j] (e: 0 source, 1 target). */
    taste: [Float64Array[], Float64Array[]];
    /** Per row, the logit before the intercept (scale included). */
    logit: Float64Array;
    /** interest[u·days + k]: the user's category of interest on day k. */
    interest: Int32Array;
    /** M[city·categories + category]. */
    interaction: Float64Array;
  };
}

/** Total impressions: `impressions`, or users × target_rows_per_user × (1 + source_per_target). */
export function impressionCount(spec: SyntheticGeneratorSpec): number {
  if (spec.target_rows_per_user === undefined) return spec.impressions ?? DEFAULT_IMPRESSIONS;
  return Math.round(spec.users * spec.target_rows_per_user * (1 + spec.source_per_target));
}

export const DEFAULT_IMPRESSIONS = 200_000;

/** A PRNG stream of its own for one knob, derived from the generator's seed. */
function stream(seed: number, tag: number): { uniform: () => number; normal: () => number } {
  const uniform = mulberry32(Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) + tag * 0x85ebca6b);
  return { uniform, normal: normalSource(uniform) };
}

export function simulate(spec: SyntheticGeneratorSpec): Simulation {
  const uniform = mulberry32(spec.seed);
  const normal = normalSource(uniform);
  const d = spec.latent_dim;
  const randomVector = () => Float64Array.from({ length: d }, () => normal());

  // Users: profile fields, a taste built partly from profile centroids, and entity-specific preferences.
  const ageCentroids = Array.from({ length: AGE_BUCKETS }, () => randomVector());
  const genderCentroids = Array.from({ length: GENDERS }, () => randomVector());
  const nUsers = spec.users;
  const gender = new Int32Array(nUsers);
  const age = new Int32Array(nUsers);
  const city = new Int32Array(nUsers);
  const taste = new Float64Array(nUsers * d);
  const userBias = new Float64Array(nUsers);
  const priceSensitivity = new Float64Array(nUsers);
  const preferredStyle = new Int32Array(nUsers);
  const videoPreference = new Float64Array(nUsers);
  const activity = new Float64Array(nUsers);
  const citySampler = weightedSampler(Float64Array.from({ length: CITIES }, (_, i) => 1 / (i + 2)), uniform);
  for (let u = 0; u < nUsers; u++) {
    gender[u] = uniform() < 0.5 ? 0 : 1;
    age[u] = Math.floor(uniform() * AGE_BUCKETS);
    city[u] = citySampler();
    const a = ageCentroids[age[u]!]!;
    const g = genderCentroids[gender[u]!]!;
    for (let k = 0; k < d; k++) taste[u * d + k] = 0.6 * a[k]! + 0.3 * g[k]! + 0.7 * normal();
    userBias[u] = 0.3 * normal();
    priceSensitivity[u] = normal() + (age[u]! < 2 ? 0.5 : -0.2);
    preferredStyle[u] = (age[u]! + Math.floor(uniform() * 2)) % STYLES.length;
    videoPreference[u] = age[u]! < 3 ? 0.5 : -0.5;
    activity[u] = Math.exp(1.1 * normal());
  }

  // Items: categories are shared by both entities and give the item vectors their direction.
  const categoryVectors = Array.from({ length: spec.categories }, () => randomVector());
  const creatorQuality = Float64Array.from({ length: spec.creators }, () => 0.4 * normal());
  const creatorCategory = Int32Array.from({ length: spec.creators }, () => Math.floor(uniform() * spec.categories));
  const categorySampler = weightedSampler(Float64Array.from({ length: spec.categories }, (_, i) => 1 / (i + 3)), uniform);
  const makeItems = (n: number) => {
    const items = {
      category: new Int32Array(n),
      creator: new Int32Array(n),
      vector: new Float64Array(n * d), // [n × d]
      popularity: new Float64Array(n),
    };
    for (let i = 0; i < n; i++) {
      let creator = Math.floor(uniform() * spec.creators);
      // Creators mostly publish in their own category.
      const category = uniform() < 0.7 ? creatorCategory[creator]! : categorySampler();
      if (creatorCategory[creator] !== category && uniform() < 0.5) creator = Math.floor(uniform() * spec.creators);
      items.category[i] = category;
      items.creator[i] = creator;
      const c = categoryVectors[category]!;
      for (let k = 0; k < d; k++) items.vector[i * d + k] = c[k]! + 0.6 * normal();
      items.popularity[i] = 1 / Math.pow(i + 10, 0.8);
    }
    return items;
  };
  const sourceItems = makeItems(spec.source_items);
  const targetItems = makeItems(spec.target_items);
  const logPrice = Float64Array.from({ length: spec.source_items }, (_, i) => 3 + 0.15 * sourceItems.category[i]! + 0.8 * normal());
  const condition = Int32Array.from({ length: spec.source_items }, () => Math.floor(uniform() * CONDITIONS.length));
  const style = Int32Array.from({ length: spec.target_items }, () => Math.floor(uniform() * STYLES.length));
  const media = Int32Array.from({ length: spec.target_items }, () => (uniform() < 0.4 ? 1 : 0));
  const meanLogPrice = logPrice.reduce((s, x) => s + x, 0) / logPrice.length;
  const sdLogPrice = Math.sqrt(logPrice.reduce((s, x) => s + (x - meanLogPrice) ** 2, 0) / logPrice.length) || 1;

  // Impressions: entity by the source:target ratio, user by activity, item by popularity, uniform time.
  const n = impressionCount(spec);
  const isTarget = new Uint8Array(n);
  const user = new Int32Array(n);
  const item = new Int32Array(n);
  const ts = new Float64Array(n);
  const day = new Int32Array(n);
  const userSampler = weightedSampler(activity, uniform);
  const sourceItemSampler = weightedSampler(sourceItems.popularity, uniform);
  const targetItemSampler = weightedSampler(targetItems.popularity, uniform);
  const targetShare = 1 / (1 + spec.source_per_target);
  for (let i = 0; i < n; i++) {
    const target = uniform() < targetShare;
    isTarget[i] = target ? 1 : 0;
    user[i] = userSampler();
    item[i] = target ? targetItemSampler() : sourceItemSampler();
    ts[i] = EPOCH_DAY0 + Math.floor(uniform() * spec.days * 86_400);
    day[i] = Math.floor((ts[i]! - EPOCH_DAY0) / 86_400);
  }

  // The knobs' latents, each from its own stream.
  const tasteByDay = tastes(spec, taste, age, gender);
  const sourceLatent = logPrice.map((x) => (x - meanLogPrice) / sdLogPrice);
  const latentStream = stream(spec.seed, STREAM.specificLatent);
  const targetLatent = Float64Array.from({ length: spec.target_items }, () => latentStream.normal());
  const latentPreference = Float64Array.from({ length: nUsers }, () => latentStream.normal());
  const length = targetLatent.map((a) => Math.round(30 * Math.exp(0.9 * a)));
  const interactionStream = stream(spec.seed, STREAM.interaction);
  const interaction = Float64Array.from({ length: CITIES * spec.categories }, () => interactionStream.normal());
  const interest = interests(spec);

  const logit = new Float64Array(n);
  const tasteScale = spec.taste_weight / Math.sqrt(d * 1.7);
  for (let i = 0; i < n; i++) {
    const target = isTarget[i] === 1;
    const u = user[i]!;
    const it = item[i]!;
    const items = target ? targetItems : sourceItems;
    const userTaste = tasteByDay[target ? 1 : 0][day[i]!]!;
    let dot = 0;
    for (let k = 0; k < d; k++) dot += userTaste[u * d + k]! * items.vector[it * d + k]!;
    let z = tasteScale * dot + creatorQuality[items.creator[it]!]! + userBias[u]!;
    if (target) {
      z += style[it] === preferredStyle[u] ? 1.0 : -0.3;
      z += videoPreference[u]! * (media[it] === 1 ? 1 : -1);
    } else {
      z += -0.8 * priceSensitivity[u]! * sourceLatent[it]!;
      z += condition[it] === 0 ? 0.3 : condition[it] === 2 ? -0.3 : 0;
    }
    const category = items.category[it]!;
    if (spec.interaction_weight !== 0) z += spec.interaction_weight * interaction[city[u]! * spec.categories + category]!;
    if (spec.sequence_weight !== 0 && interest[u * spec.days + day[i]!] === category) z += spec.sequence_weight;
    if (spec.specific_latent_weight !== 0) z += spec.specific_latent_weight * latentPreference[u]! * (target ? targetLatent : sourceLatent)[it]!;
    logit[i] = target ? z : spec.source_logit_scale * z;
  }
  const intercepts: [number, number] = [calibrateIntercept(logit, isTarget, 0, spec.source_ctr), calibrateIntercept(logit, isTarget, 1, spec.target_ctr)];
  const ctr = [spec.source_ctr, spec.target_ctr];
  const pTrue = new Float64Array(n);
  const click = new Int32Array(n);
  const noise = stream(spec.seed, STREAM.labelNoise);
  const eta = spec.label_noise;
  for (let i = 0; i < n; i++) {
    const p = sigmoid(logit[i]! + intercepts[isTarget[i]!]!);
    click[i] = uniform() < p ? 1 : 0;
    pTrue[i] = p;
    if (eta > 0) {
      // A noisy row's label ignores user and item: it is drawn from the entity's CTR.
      const c = ctr[isTarget[i]!]!;
      if (noise.uniform() < eta) click[i] = noise.uniform() < c ? 1 : 0;
      pTrue[i] = (1 - eta) * p + eta * c;
    }
  }
  return {
    users: { gender, age, city },
    sourceItems: { category: sourceItems.category, creator: sourceItems.creator, logPrice, condition },
    targetItems: { category: targetItems.category, creator: targetItems.creator, style, media, length },
    impressions: { isTarget, user, item, ts, day, pTrue, click },
    latents: { taste: tasteByDay, logit, interest, interaction },
  };
}

/**
 * taste^e of every user on every day. Without drift every day is the same array; with ρ = 1 the
 * target's tastes are the source's arrays themselves.
 */
function tastes(spec: SyntheticGeneratorSpec, taste: Float64Array, age: Int32Array, gender: Int32Array): [Float64Array[], Float64Array[]] {
  const d = spec.latent_dim;
  const rho = spec.taste_correlation;
  const delta = spec.taste_drift;
  const keep = Math.sqrt(1 - delta);
  const fresh = Math.sqrt(delta * TASTE_VARIANCE);
  const drift = stream(spec.seed, STREAM.drift);
  const drifting = (start: Float64Array): Float64Array[] => {
    if (delta === 0) return new Array<Float64Array>(spec.days).fill(start);
    const days = [start];
    for (let k = 1; k < spec.days; k++) days.push(days[k - 1]!.map((x) => keep * x + fresh * drift.normal()));
    return days;
  };
  const source = drifting(taste);
  if (rho === 1) return [source, source];
  // The target's own taste: the same law as the source's (its own profile centroids), independent of it.
  const { normal } = stream(spec.seed, STREAM.targetTaste);
  const centroids = (count: number) => Array.from({ length: count }, () => Float64Array.from({ length: d }, () => normal()));
  const ageCentroids = centroids(AGE_BUCKETS);
  const genderCentroids = centroids(GENDERS);
  const own = new Float64Array(taste.length);
  for (let u = 0; u < spec.users; u++) {
    const a = ageCentroids[age[u]!]!;
    const g = genderCentroids[gender[u]!]!;
    for (let k = 0; k < d; k++) own[u * d + k] = 0.6 * a[k]! + 0.3 * g[k]! + 0.7 * normal();
  }
  const independent = drifting(own);
  const mix = Math.sqrt(1 - rho * rho);
  const mixed = (k: number) => source[k]!.map((x, j) => rho * x + mix * independent[k]![j]!);
  const target = delta === 0 ? new Array<Float64Array>(spec.days).fill(mixed(0)) : source.map((_, k) => mixed(k));
  return [source, target];
}

/** Each user's category of interest per day: drawn uniformly, kept the next day with probability INTEREST_KEPT. */
function interests(spec: SyntheticGeneratorSpec): Int32Array {
  const { uniform } = stream(spec.seed, STREAM.interest);
  const sampler = () => Math.floor(uniform() * spec.categories);
  const interest = new Int32Array(spec.users * spec.days);
  for (let u = 0; u < spec.users; u++) {
    for (let k = 0; k < spec.days; k++) {
      interest[u * spec.days + k] = k > 0 && uniform() < INTEREST_KEPT ? interest[u * spec.days + k - 1]! : sampler();
    }
  }
  return interest;
}

export async function generateSynthetic(spec: SyntheticGeneratorSpec, rawDir: string): Promise<GeneratedCounts> {
  const sim = simulate(spec);
  const { users, sourceItems, targetItems, impressions } = sim;
  const nUsers = spec.users;
  const n = impressions.isTarget.length;
  await mkdir(rawDir, { recursive: true });
  const duck = await openDuck();
  try {
    const con = duck.con;
    const ids = (count: number) => Int32Array.from({ length: count }, (_, i) => i + 1);
    await appendColumns(con, "users", [
      { name: "user_id", kind: "int", data: ids(nUsers) },
      { name: "gender", kind: "int", data: users.gender },
      { name: "age_bucket", kind: "int", data: users.age },
      { name: "city", kind: "int", data: users.city },
    ]);
    await appendColumns(con, "source_items", [
      { name: "item_id", kind: "int", data: ids(spec.source_items) },
      { name: "category", kind: "int", data: sourceItems.category },
      { name: "creator_id", kind: "int", data: sourceItems.creator },
      { name: "price", kind: "double", data: sourceItems.logPrice.map((x) => Math.round(Math.exp(x) * 100) / 100) },
      { name: "condition", kind: "int", data: sourceItems.condition },
    ]);
    await appendColumns(con, "target_items", [
      { name: "item_id", kind: "int", data: ids(spec.target_items) },
      { name: "category", kind: "int", data: targetItems.category },
      { name: "creator_id", kind: "int", data: targetItems.creator },
      { name: "style", kind: "int", data: targetItems.style },
      { name: "media_type", kind: "int", data: targetItems.media },
      { name: "length", kind: "double", data: targetItems.length },
    ]);
    await appendColumns(con, "impressions", [
      { name: "is_target", kind: "int", data: Int32Array.from(impressions.isTarget) },
      { name: "user_id", kind: "int", data: impressions.user.map((u) => u + 1) },
      { name: "item_id", kind: "int", data: impressions.item.map((it) => it + 1) },
      { name: "ts", kind: "double", data: impressions.ts },
      { name: "click", kind: "int", data: impressions.click },
      { name: TRUE_PROBABILITY_COLUMN, kind: "double", data: impressions.pTrue },
    ]);
    const label = (values: readonly string[], column: string) => `[${values.map(sqlString).join(", ")}][${column} + 1] AS ${column}`;
    const copy = (select: string, file: string) =>
      con.run(`COPY (${select}) TO ${sqlString(join(rawDir, file))} (FORMAT parquet, COMPRESSION zstd)`);
    await copy(
      `SELECT user_id, ['f', 'm'][gender + 1] AS gender, age_bucket, 'city_' || city AS city FROM users`,
      SYNTHETIC_TABLES.users,
    );
    await copy(
      `SELECT item_id, 'cat_' || category AS category, 'creator_' || creator_id AS creator_id, price, ${label(CONDITIONS, "condition")} FROM source_items`,
      SYNTHETIC_TABLES.sourceItems,
    );
    await copy(
      `SELECT item_id, 'cat_' || category AS category, 'creator_' || creator_id AS creator_id, ${label(STYLES, "style")}, ${label(MEDIA, "media_type")}, length FROM target_items`,
      SYNTHETIC_TABLES.targetItems,
    );
    for (const [flag, file] of [
      [0, SYNTHETIC_TABLES.sourceImpressions],
      [1, SYNTHETIC_TABLES.targetImpressions],
    ] as const) {
      await copy(`SELECT user_id, item_id, ts::BIGINT AS ts, click, ${TRUE_PROBABILITY_COLUMN} FROM impressions WHERE is_target = ${flag}`, file);
    }
  } finally {
    duck.close();
  }
  let targetImpressions = 0;
  let sourceClicks = 0;
  let targetClicks = 0;
  for (let i = 0; i < n; i++) {
    targetImpressions += impressions.isTarget[i]!;
    if (impressions.isTarget[i]) targetClicks += impressions.click[i]!;
    else sourceClicks += impressions.click[i]!;
  }
  return { users: nUsers, sourceImpressions: n - targetImpressions, targetImpressions, sourceClicks, targetClicks };
}

/** The intercept a such that the mean of sigmoid(a + logit) over one entity's impressions is `ctr` (bisection). */
function calibrateIntercept(logit: Float64Array, isTarget: Uint8Array, entity: number, ctr: number): number {
  const stride = Math.max(1, Math.floor(logit.length / 200_000));
  const meanAt = (a: number) => {
    let sum = 0;
    let count = 0;
    for (let i = 0; i < logit.length; i += stride) {
      if (isTarget[i] !== entity) continue;
      sum += sigmoid(a + logit[i]!);
      count++;
    }
    return count ? sum / count : ctr;
  };
  let lo = -20;
  let hi = 20;
  for (let iter = 0; iter < 60; iter++) {
    const mid = (lo + hi) / 2;
    if (meanAt(mid) > ctr) hi = mid;
    else lo = mid;
  }
  return (lo + hi) / 2;
}
