import { describe, expect, it } from "vitest";
import { openDuck, queryObjects } from "../src/data/duck.ts";
import { addSampledNegatives } from "../src/data/prepare/negatives.ts";
import { datasetSpecSchema } from "../src/spec/dataset.ts";

/**
 * The sampler on its own: user "x" has 3,000 training positives, all on item z, so x's candidates
 * are a, b, c, d with training positives 1, 2, 3, 4 (z's 3,020 make 99.7% of the pool's weight).
 * Two negatives per positive, drawn without replacement in proportion to the weights: item i is in a
 * group with probability w_i/W + Σ_{j≠i} (w_j/W)·(w_i/(W − w_j)) (successive sampling). Both ways of
 * drawing must give that: the rejection rounds, and the exact completion (Efraimidis–Spirakis) alone.
 */
const weights: Record<string, number> = { a: 1, b: 2, c: 3, d: 4 };
const W = 10;
const inclusion = (i: string) => weights[i]! / W + Object.keys(weights).filter((j) => j !== i).reduce((s, j) => s + (weights[j]! / W) * (weights[i]! / (W - weights[j]!)), 0);

async function sampleX(rejectionRounds: number | undefined): Promise<{ shares: Record<string, number>; groups: number; sizes: number[] }> {
  const duck = await openDuck();
  try {
    const con = duck.con;
    await con.run(`CREATE TABLE samples (entity INTEGER, _row BIGINT, _neg INTEGER, user_raw VARCHAR, item_raw VARCHAR, t DOUBLE, label INTEGER, slice INTEGER, split VARCHAR)`);
    const rows: string[] = [];
    let row = 0;
    const add = (user: string, item: string) => rows.push(`(1, ${++row}, 0, '${user}', '${item}', ${row}, 1, 0, 'train')`);
    for (const [item, w] of Object.entries(weights)) for (let n = 0; n < w; n++) add(`o_${item}${n}`, item);
    for (let n = 0; n < 20; n++) add(`z${n}`, "z");
    for (let n = 0; n < 3000; n++) add("x", "z");
    await con.run(`INSERT INTO samples VALUES ${rows.join(", ")}`);
    const spec = datasetSpecSchema.parse({
      name: "unit",
      raw_dir: ".",
      tables: { t: { path: "t.csv" } },
      entities: {
        source: { name: "a", table: "t", negatives: { per_positive: 2 } },
        target: { name: "b", table: "t", negatives: { per_positive: 2, strategy: "popularity" } },
      },
    });
    await addSampledNegatives(con, spec, "target", [], rejectionRounds);
    const drawn = await queryObjects(con, `SELECT _row, list(item_raw ORDER BY item_raw) AS items FROM samples WHERE user_raw = 'x' AND _neg > 0 GROUP BY _row`);
    const shares: Record<string, number> = {};
    for (const item of ["a", "b", "c", "d", "z"]) shares[item] = drawn.filter((r) => (r.items as string[]).includes(item)).length / drawn.length;
    return { shares, groups: drawn.length, sizes: [...new Set(drawn.map((r) => new Set(r.items as string[]).size))] };
  } finally {
    duck.close();
  }
}

describe("negative sampling draws without replacement in proportion to training positives", () => {
  for (const [name, rounds] of [
    ["rejection rounds, then exact completion (as prepare runs it)", undefined],
    ["exact completion alone", 0],
  ] as const) {
    it(name, async () => {
      const { shares, groups, sizes } = await sampleX(rounds);
      expect(groups).toBe(3000);
      expect(sizes).toEqual([2]);
      expect(shares.z).toBe(0);
      // 3,000 groups: the standard error of each share is below 0.009.
      for (const item of Object.keys(weights)) expect(Math.abs(shares[item]! - inclusion(item)), item).toBeLessThan(0.03);
    });
  }
});
