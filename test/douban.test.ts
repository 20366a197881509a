import { describe, expect, it } from "vitest";
import { prepareSpecFile } from "./helpers/prepared.ts";

/** The real data: counts must match ../shared/data/raw/douban-book-music/PROVENANCE.md. */
describe("douban-book-music (real data)", () => {
  it("prepares with the documented row, user and label counts", async () => {
    const { stats, schema } = await prepareSpecFile("datasets/douban-book-music.yaml");
    expect(stats.rawRows).toBe(96_041 + 69_709);
    const rows = (prefix: string) => Object.entries(stats.splits).filter(([k]) => k.startsWith(prefix)).reduce((s, [, v]) => s + v.rows, 0);
    const positives = (prefix: string) => Object.entries(stats.splits).filter(([k]) => k.startsWith(prefix)).reduce((s, [, v]) => s + v.positives, 0);
    expect(rows("source")).toBe(96_041);
    expect(rows("target")).toBe(69_709);
    // Ratings 4 and 5 of books: 38,975 + 30,236.
    expect(positives("source")).toBe(69_211);
    expect(positives("target") / 69_709).toBeCloseTo(0.746, 3);
    expect(stats.users).toEqual({ total: 2_216, source: 2_110, target: 1_672, inBoth: 1_566 });
    // One specific feature per entity (item id) and the derived shared popularity.
    expect(schema.entities.source.specificColumns).toEqual(["source__item_id"]);
    expect(schema.entities.target.specificColumns).toEqual(["target__item_id"]);
    expect(schema.features.filter((f) => f.group === "shared").map((f) => f.column)).toEqual(["shared__popularity"]);
    expect(schema.split.by).toBe("user_order");
  });
});
