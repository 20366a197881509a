import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { SyntheticGeneratorSpec } from "../spec/dataset.ts";
import { appendColumns, openDuck, sqlString } from "./duck.ts";
import { mulberry32, normalSource, sigmoid, weightedSampler } from "../util/random.ts";

/**
 * The synthetic two-entity feed (the built-in default dataset). Users have a latent taste shared by
 * both entities (derived partly from their age bucket and gender, so profile fields carry signal);
 * items get a vector from their category, which both entities share. A click's logit is
 *   intercept_e + taste_weight · (taste · item vector) + creator quality + user bias + entity effects,
 * where the entity effects are price sensitivity and condition for source items only, and style and
 * media-type preference for target items only. Intercepts are calibrated to the wanted CTRs.
 * Everything is drawn from one seeded PRNG: the same spec gives byte-identical tables.
 */

export const SYNTHETIC_TABLES = {
  users: "users.parquet",
  sourceItems: "source_items.parquet",
  targetItems: "target_items.parquet",
  sourceImpressions: "source_impressions.parquet",
  targetImpressions: "target_impressions.parquet",
} as const;

const GENDERS = 2;
const AGE_BUCKETS = 6;
const CITIES = 30;
const CONDITIONS = ["new", "like_new", "used"] as const;
const STYLES = ["tutorial", "review", "story", "meme"] as const;
const MEDIA = ["image", "video"] as const;
/** Day 0 starts at a multiple of 86,400 s so that daily time slices are calendar days. */
const EPOCH_DAY0 = 19_700 * 86_400;

export interface GeneratedCounts {
  users: number;
  sourceImpressions: number;
  targetImpressions: number;
  sourceClicks: number;
  targetClicks: number;
}

interface Items {
  category: Int32Array;
  creator: Int32Array;
  vector: Float64Array; // [n × d]
  popularity: Float64Array;
}

export async function generateSynthetic(spec: SyntheticGeneratorSpec, rawDir: string): Promise<GeneratedCounts> {
  const uniform = mulberry32(spec.seed);
  const normal = normalSource(uniform);
  const d = spec.latent_dim;
  const randomVector = (scale: number) => Float64Array.from({ length: d }, () => normal() * scale);

  // Users: profile fields, a taste built partly from profile centroids, and entity-specific preferences.
  const ageCentroids = Array.from({ length: AGE_BUCKETS }, () => randomVector(1));
  const genderCentroids = Array.from({ length: GENDERS }, () => randomVector(1));
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
  const categoryVectors = Array.from({ length: spec.categories }, () => randomVector(1));
  const creatorQuality = Float64Array.from({ length: spec.creators }, () => 0.4 * normal());
  const creatorCategory = Int32Array.from({ length: spec.creators }, () => Math.floor(uniform() * spec.categories));
  const categorySampler = weightedSampler(Float64Array.from({ length: spec.categories }, (_, i) => 1 / (i + 3)), uniform);
  const makeItems = (n: number): Items => {
    const items: Items = {
      category: new Int32Array(n),
      creator: new Int32Array(n),
      vector: new Float64Array(n * d),
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
  const n = spec.impressions;
  const isTarget = new Uint8Array(n);
  const user = new Int32Array(n);
  const item = new Int32Array(n);
  const ts = new Float64Array(n);
  const logit = new Float64Array(n);
  const userSampler = weightedSampler(activity, uniform);
  const sourceItemSampler = weightedSampler(sourceItems.popularity, uniform);
  const targetItemSampler = weightedSampler(targetItems.popularity, uniform);
  const targetShare = 1 / (1 + spec.source_per_target);
  const tasteScale = spec.taste_weight / Math.sqrt(d * 1.7);
  for (let i = 0; i < n; i++) {
    const target = uniform() < targetShare;
    const u = userSampler();
    const it = target ? targetItemSampler() : sourceItemSampler();
    const items = target ? targetItems : sourceItems;
    let dot = 0;
    for (let k = 0; k < d; k++) dot += taste[u * d + k]! * items.vector[it * d + k]!;
    let z = tasteScale * dot + creatorQuality[items.creator[it]!]! + userBias[u]!;
    if (target) {
      z += style[it] === preferredStyle[u] ? 1.0 : -0.3;
      z += videoPreference[u]! * (media[it] === 1 ? 1 : -1);
    } else {
      z += -0.8 * priceSensitivity[u]! * ((logPrice[it]! - meanLogPrice) / sdLogPrice);
      z += condition[it] === 0 ? 0.3 : condition[it] === 2 ? -0.3 : 0;
    }
    isTarget[i] = target ? 1 : 0;
    user[i] = u;
    item[i] = it;
    ts[i] = EPOCH_DAY0 + Math.floor(uniform() * spec.days * 86_400);
    logit[i] = z;
  }
  const intercepts = [calibrateIntercept(logit, isTarget, 0, spec.source_ctr), calibrateIntercept(logit, isTarget, 1, spec.target_ctr)];
  const click = new Int32Array(n);
  for (let i = 0; i < n; i++) click[i] = uniform() < sigmoid(logit[i]! + intercepts[isTarget[i]!]!) ? 1 : 0;

  await mkdir(rawDir, { recursive: true });
  const duck = await openDuck();
  try {
    const con = duck.con;
    const ids = (count: number) => Int32Array.from({ length: count }, (_, i) => i + 1);
    await appendColumns(con, "users", [
      { name: "user_id", kind: "int", data: ids(nUsers) },
      { name: "gender", kind: "int", data: gender },
      { name: "age_bucket", kind: "int", data: age },
      { name: "city", kind: "int", data: city },
    ]);
    await appendColumns(con, "source_items", [
      { name: "item_id", kind: "int", data: ids(spec.source_items) },
      { name: "category", kind: "int", data: sourceItems.category },
      { name: "creator_id", kind: "int", data: sourceItems.creator },
      { name: "price", kind: "double", data: logPrice.map((x) => Math.round(Math.exp(x) * 100) / 100) },
      { name: "condition", kind: "int", data: condition },
    ]);
    await appendColumns(con, "target_items", [
      { name: "item_id", kind: "int", data: ids(spec.target_items) },
      { name: "category", kind: "int", data: targetItems.category },
      { name: "creator_id", kind: "int", data: targetItems.creator },
      { name: "style", kind: "int", data: style },
      { name: "media_type", kind: "int", data: media },
    ]);
    await appendColumns(con, "impressions", [
      { name: "is_target", kind: "int", data: Int32Array.from(isTarget) },
      { name: "user_id", kind: "int", data: user.map((u) => u + 1) },
      { name: "item_id", kind: "int", data: item.map((it) => it + 1) },
      { name: "ts", kind: "double", data: ts },
      { name: "click", kind: "int", data: click },
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
      `SELECT item_id, 'cat_' || category AS category, 'creator_' || creator_id AS creator_id, ${label(STYLES, "style")}, ${label(MEDIA, "media_type")} FROM target_items`,
      SYNTHETIC_TABLES.targetItems,
    );
    for (const [flag, file] of [
      [0, SYNTHETIC_TABLES.sourceImpressions],
      [1, SYNTHETIC_TABLES.targetImpressions],
    ] as const) {
      await copy(`SELECT user_id, item_id, ts::BIGINT AS ts, click FROM impressions WHERE is_target = ${flag}`, file);
    }
  } finally {
    duck.close();
  }
  let targetImpressions = 0;
  let sourceClicks = 0;
  let targetClicks = 0;
  for (let i = 0; i < n; i++) {
    targetImpressions += isTarget[i]!;
    if (isTarget[i]) targetClicks += click[i]!;
    else sourceClicks += click[i]!;
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
