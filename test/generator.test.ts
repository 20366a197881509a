import { describe, expect, it } from "vitest";
import { impressionCount, simulate, type Simulation } from "../src/data/generator.ts";
import { auc } from "../src/metrics/auc.ts";
import { syntheticGeneratorSchema } from "../src/spec/dataset.ts";
import { parseSpecText } from "../src/spec/load.ts";
import { UserError } from "../src/util/errors.ts";

/**
 * The generator's knobs, each checked on what it plants (docs/data.md): the signal must be in the
 * labels and reachable from what a model sees (fields, other-entity clicks, recent clicks), and
 * absent with the knob at its neutral value. Sizes: 1,000 users, 80,000 impressions, 1:3.
 */
const BASE = {
  kind: "synthetic",
  seed: 5,
  users: 1000,
  days: 6,
  source_items: 800,
  target_items: 300,
  impressions: 80_000,
  source_per_target: 3,
  target_ctr: 0.1,
  source_ctr: 0.1,
  categories: 12,
  creators: 100,
};

const run = (knobs: Record<string, number> = {}): Simulation => simulate(syntheticGeneratorSchema.parse({ ...BASE, ...knobs }));

/** AUC of a score over the target impressions, against their clicks. */
function targetAuc(sim: Simulation, score: (row: number) => number): number {
  const { isTarget, click } = sim.impressions;
  const scores: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < isTarget.length; i++) {
    if (!isTarget[i]) continue;
    scores.push(score(i));
    labels.push(click[i]!);
  }
  return auc(Float64Array.from(scores), labels);
}

/** The category of a row's item. */
const categoryOf = (sim: Simulation, i: number): number =>
  (sim.impressions.isTarget[i] ? sim.targetItems : sim.sourceItems).category[sim.impressions.item[i]!]!;

/** Score of a target row: the smoothed source CTR of its (user city, item category) cell, as a model could learn it from source rows. */
function sourceCellCtr(sim: Simulation): (row: number) => number {
  const cells = BASE.categories * 30;
  const clicks = new Float64Array(cells);
  const shown = new Float64Array(cells);
  const cell = (i: number) => sim.users.city[sim.impressions.user[i]!]! * BASE.categories + categoryOf(sim, i);
  sim.impressions.isTarget.forEach((t, i) => {
    if (t) return;
    clicks[cell(i)]! += sim.impressions.click[i]!;
    shown[cell(i)]!++;
  });
  return (i) => (clicks[cell(i)]! + 1) / (shown[cell(i)]! + 10);
}

/** Byte-for-byte equality of two typed arrays (vitest's deep equality is slow on 80,000 elements). */
const identical = (a: ArrayLike<number> & { buffer: ArrayBufferLike; byteOffset: number; byteLength: number }, b: typeof a): boolean =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]! / n;
    mb += b[i]! / n;
  }
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

describe("synthetic generator", () => {
  it("is deterministic, and a knob changes only its own term", () => {
    const a = run();
    expect(identical(run().impressions.pTrue, a.impressions.pTrue)).toBe(true);
    const b = run({ interaction_weight: 1 });
    for (const key of ["isTarget", "user", "item", "ts"] as const) expect(identical(b.impressions[key], a.impressions[key])).toBe(true);
    expect(identical(b.latents.taste[1][5]!, a.latents.taste[1][5]!)).toBe(true);
    expect(identical(b.impressions.pTrue, a.impressions.pTrue)).toBe(false);
  });

  it("writes p_true, the probability each label was drawn with (calibrated per decile, label noise included)", () => {
    const sim = run({ taste_correlation: 0.3, taste_drift: 0.1, specific_latent_weight: 1, interaction_weight: 1, sequence_weight: 2, source_logit_scale: 1.5, label_noise: 0.2 });
    const { isTarget, pTrue, click } = sim.impressions;
    for (const entity of [0, 1]) {
      const rows = [...isTarget.keys()].filter((i) => isTarget[i] === entity).sort((x, y) => pTrue[x]! - pTrue[y]!);
      const meanP = rows.reduce((s, i) => s + pTrue[i]!, 0) / rows.length;
      expect(meanP).toBeCloseTo(0.1, 2); // calibrated intercepts; noise keeps the CTR
      for (let d = 0; d < 10; d++) {
        const bin = rows.slice(Math.floor((d * rows.length) / 10), Math.floor(((d + 1) * rows.length) / 10));
        const p = bin.reduce((s, i) => s + pTrue[i]!, 0) / bin.length;
        const y = bin.reduce((s, i) => s + click[i]!, 0) / bin.length;
        expect(Math.abs(y - p)).toBeLessThan(4 * Math.sqrt((p * (1 - p)) / bin.length) + 1e-9);
      }
    }
    // Noise: a share of labels ignores user and item, so p_true is squeezed towards the CTR.
    expect(Math.min(...pTrue)).toBeGreaterThanOrEqual(0.2 * 0.1);
  });

  it("label noise lowers what the true probabilities can reach", () => {
    const clean = run();
    const noisy = run({ label_noise: 0.3 });
    const oracle = (sim: Simulation) => targetAuc(sim, (i) => sim.impressions.pTrue[i]!);
    expect(oracle(noisy)).toBeLessThan(oracle(clean) - 0.05);
  });

  it("taste_correlation ρ: target taste = ρ·source taste + √(1−ρ²)·independent; ρ < 0 turns source evidence against the target", () => {
    const same = run();
    expect(same.latents.taste[1]).toBe(same.latents.taste[0]);
    const opposed = run({ taste_correlation: -1 });
    expect(opposed.latents.taste[1][0]).toEqual(opposed.latents.taste[0][0]!.map((x) => -x));
    const half = run({ taste_correlation: 0.5 });
    expect(pearson(half.latents.taste[0][0]!, half.latents.taste[1][0]!)).toBeCloseTo(0.5, 1);
    // What source rows say about a (city, category) cell predicts target clicks, or predicts them backwards.
    expect(targetAuc(same, sourceCellCtr(same))).toBeGreaterThan(0.58);
    expect(targetAuc(opposed, sourceCellCtr(opposed))).toBeLessThan(0.47);
  });

  it("taste_drift δ: taste keeps a correlation of (1 − δ)^(k/2) after k days", () => {
    const still = run();
    expect(new Set(still.latents.taste[0]).size).toBe(1);
    const sim = run({ taste_drift: 0.2 });
    const days = sim.latents.taste[0];
    expect(pearson(days[0]!, days[5]!)).toBeCloseTo(0.8 ** 2.5, 1);
    expect(pearson(days[0]!, days[1]!)).toBeGreaterThan(pearson(days[0]!, days[5]!));
  });

  it("specific_latent_weight: a preference learnt from source prices predicts target clicks through target length", () => {
    const score = (sim: Simulation): number => {
      // Per user: mean standardised log price of clicked source items minus that of shown ones.
      const clicked = new Float64Array(BASE.users);
      const clicks = new Float64Array(BASE.users);
      const shown = new Float64Array(BASE.users);
      const shownCount = new Float64Array(BASE.users);
      const price = sim.sourceItems.logPrice;
      const mean = price.reduce((s, x) => s + x, 0) / price.length;
      const { isTarget, user, item, click } = sim.impressions;
      isTarget.forEach((t, i) => {
        if (t) return;
        const a = price[item[i]!]! - mean;
        shown[user[i]!]! += a;
        shownCount[user[i]!]!++;
        if (click[i]) {
          clicked[user[i]!]! += a;
          clicks[user[i]!]!++;
        }
      });
      const logLength = sim.targetItems.length.map(Math.log);
      const meanLength = logLength.reduce((s, x) => s + x, 0) / logLength.length;
      return targetAuc(sim, (i) => {
        const u = user[i]!;
        const preference = clicks[u] ? clicked[u]! / clicks[u]! - shown[u]! / shownCount[u]! : 0;
        return preference * (logLength[item[i]!]! - meanLength);
      });
    };
    expect(score(run())).toBeLessThan(0.53);
    expect(score(run({ specific_latent_weight: 1.5 }))).toBeGreaterThan(0.62);
  });

  it("interaction_weight: a city × category table that source rows reveal and target clicks follow", () => {
    const plain = run();
    const crossed = run({ interaction_weight: 1 });
    expect(targetAuc(crossed, sourceCellCtr(crossed))).toBeGreaterThan(targetAuc(plain, sourceCellCtr(plain)) + 0.05);
    expect(targetAuc(crossed, (i) => crossed.latents.interaction[crossed.users.city[crossed.impressions.user[i]!]! * BASE.categories + categoryOf(crossed, i)]!)).toBeGreaterThan(0.6);
  });

  it("sequence_weight: the user's latest click falls in the day's interest, which target clicks follow", () => {
    const share = (sim: Simulation): number => {
      const { ts, isTarget, user, click, day } = sim.impressions;
      const order = [...ts.keys()].sort((a, b) => ts[a]! - ts[b]!);
      const last = new Map<number, number>();
      let hits = 0;
      let rows = 0;
      let j = 0;
      for (const i of order) {
        for (; j < order.length && ts[order[j]!]! < ts[i]!; j++) if (click[order[j]!]) last.set(user[order[j]!]!, categoryOf(sim, order[j]!));
        if (!isTarget[i] || !last.has(user[i]!)) continue;
        rows++;
        if (last.get(user[i]!) === sim.latents.interest[user[i]! * BASE.days + day[i]!]) hits++;
      }
      return hits / rows;
    };
    const plain = run();
    const planted = run({ sequence_weight: 3 });
    expect(share(planted)).toBeGreaterThan(2.5 * share(plain));
    const inInterest = (sim: Simulation) => (i: number) => (categoryOf(sim, i) === sim.latents.interest[sim.impressions.user[i]! * BASE.days + sim.impressions.day[i]!] ? 1 : 0);
    expect(targetAuc(planted, inInterest(planted))).toBeGreaterThan(0.6);
    expect(Math.abs(targetAuc(plain, inInterest(plain)) - 0.5)).toBeLessThan(0.03);
  });

  it("source_logit_scale multiplies the source entity's logit only", () => {
    const plain = run();
    const scaled = run({ source_logit_scale: 2 });
    const expected = plain.latents.logit.map((z, i) => (plain.impressions.isTarget[i] ? z : 2 * z));
    expect(identical(scaled.latents.logit, expected)).toBe(true);
    expect(identical(scaled.latents.logit, plain.latents.logit)).toBe(false);
  });

  it("target_rows_per_user sets the impressions; it cannot be given with impressions", () => {
    const spec = syntheticGeneratorSchema.parse({ ...BASE, impressions: undefined, target_rows_per_user: 12.5 });
    expect(impressionCount(spec)).toBe(1000 * 12.5 * 4);
    const sim = simulate(spec);
    expect(sim.impressions.isTarget.length).toBe(50_000);
    const targetRows = sim.impressions.isTarget.reduce((s, t) => s + t, 0);
    expect(targetRows / BASE.users).toBeCloseTo(12.5, 0);
    expect(() => parseSpecText("g.yaml", "kind: synthetic\nimpressions: 1000\ntarget_rows_per_user: 5\n", syntheticGeneratorSchema)).toThrow(UserError);
    expect(() => parseSpecText("g.yaml", "kind: synthetic\nimpressions: 1000\ntarget_rows_per_user: 5\n", syntheticGeneratorSchema)).toThrow(
      "g.yaml:3: target_rows_per_user: give impressions or target_rows_per_user, not both",
    );
  });
});
