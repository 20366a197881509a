import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openDuck, queryObjects, sqlString } from "../src/data/duck.ts";
import { prepareError, prepareFixture, readParquetRows, tempDir } from "./helpers/prepared.ts";

/**
 * A small two-entity log written as CSV: time slices of 100 s (0–599 → slices 0–5), so target
 * test = slice 5, valid = slice 4. User "u1" has hand-placed rows for the exact sequence checks.
 */
function fixture(overrides: { source?: string[]; target?: string[]; spec?: Record<string, string> } = {}): Record<string, string> {
  const source = ["user_id,item_id,ts,click,price,condition,category"];
  const target = ["user_id,item_id,ts,click,style,category"];
  // u1: source clicks at 10 (s1), 50 (s2), 120 (s3), 300 (s4); a non-click at 60 (s9).
  source.push("u1,s1,10,1,9.5,new,c1", "u1,s2,50,1,20,used,c2", "u1,s9,60,0,5,new,c1", "u1,s3,120,1,12,new,c1", "u1,s4,300,1,40,used,c3");
  // u1: target click at 120 (t1, same time as the s3 click: s3 must not be in its history), impression at 510.
  target.push("u1,t1,120,1,story,c1", "u1,t2,410,0,meme,c2", "u1,t3,510,0,story,c1");
  // Background users in every slice of both entities.
  for (let u = 2; u <= 9; u++) {
    for (let slice = 0; slice < 6; slice++) {
      const t = slice * 100 + u * 7;
      source.push(`u${u},s${(u + slice) % 5},${t},${(u + slice) % 2},${10 + u + slice},${slice % 2 ? "new" : "used"},c${u % 3}`);
      target.push(`u${u},t${(u * slice) % 4},${t + 3},${(u + slice + 1) % 2},${u % 2 ? "story" : "meme"},c${slice % 3}`);
    }
  }
  // An item seen only in the test slice: out of vocabulary there (vocabularies are fitted on train).
  target.push("u2,t_new,590,1,story,c1");
  const spec = `
name: mini
raw_dir: raw
tables:
  src: { path: source.csv }
  tgt: { path: target.csv }
entities:
  source:
    name: product
    table: src
    time_column: ts
    label: { column: click }
    specific:
      - { name: price, type: numeric, buckets: 4 }
      - { name: condition }
  target:
    name: content
    table: tgt
    time_column: ts
    label: { column: click }
    specific:
      - { name: style }
shared:
  - { name: category }
sequence_maxlen: 3
split: { by: time, slice_seconds: 100 }
${Object.entries(overrides.spec ?? {})
  .map(([k, v]) => `${k}: ${v}`)
  .join("\n")}
`;
  return {
    "spec.yaml": spec,
    "raw/source.csv": [...source, ...(overrides.source ?? [])].join("\n") + "\n",
    "raw/target.csv": [...target, ...(overrides.target ?? [])].join("\n") + "\n",
  };
}

async function expectPrepareError(files: Record<string, string>, pattern: RegExp): Promise<string> {
  const message = await prepareError(files);
  expect(message).toMatch(pattern);
  return message;
}

describe("prepare on a hand-made log", () => {
  it("writes schema, vocabularies, splits by time slice and stats", async () => {
    const dir = await tempDir();
    const result = await prepareFixture(dir, fixture());
    const { schema, stats } = result;
    expect(Object.keys(schema.splits).sort()).toEqual(["source/test", "source/train", "target/test", "target/train", "target/valid"]);
    // Every raw row lands in exactly one split.
    const rows = Object.values(stats.splits).reduce((s, x) => s + x.rows, 0);
    expect(rows).toBe(stats.rawRows);
    const test = await readParquetRows(join(result.dir, "target/test.parquet"));
    expect(test.every((r) => Number(r.slice) === 5)).toBe(true);
    const valid = await readParquetRows(join(result.dir, "target/valid.parquet"));
    expect(valid.every((r) => Number(r.slice) === 4)).toBe(true);
    const sourceTrain = await readParquetRows(join(result.dir, "source/train.parquet"));
    expect(sourceTrain.every((r) => Number(r.slice) < 4)).toBe(true);
    // Feature layout: user_id + shared category + specific item_id/price/condition and item_id/style.
    expect(schema.features.map((f) => f.column)).toEqual([
      "user__user_id",
      "shared__category",
      "source__item_id",
      "source__price",
      "source__condition",
      "target__item_id",
      "target__style",
    ]);
    const vocab = await readFile(join(result.dir, "vocab", "target__style.tsv"), "utf8");
    expect(vocab.split("\n")[0]).toBe("idx\tvalue\ttrain_count");
    expect(stats.users.total).toBe(9);
  });

  it("builds sequences strictly before each sample's time, newest first, padded (no leakage)", async () => {
    const result = await prepareFixture(await tempDir(), fixture());
    const items = await readParquetRows(join(result.dir, "items/source.parquet"));
    const rowOf = new Map<number, number>(items.map((r) => [Number(r.item_row), Number(r.item_row)]));
    expect(rowOf.size).toBeGreaterThan(0);
    const sourceItems = await readParquetRows(join(result.dir, "items/source.parquet"), "item_row, item_id");
    const vocab = (await readFile(join(result.dir, "vocab", "source__item_id.tsv"), "utf8")).trim().split("\n").slice(1);
    const idOf = new Map(vocab.map((line) => [line.split("\t")[1]!, Number(line.split("\t")[0])]));
    const itemRow = (raw: string) => Number(sourceItems.find((r) => Number(r.item_id) === idOf.get(raw))!.item_row);
    const targetRows = [
      ...(await readParquetRows(join(result.dir, "target/train.parquet"))),
      ...(await readParquetRows(join(result.dir, "target/test.parquet"))),
    ];
    const u1 = targetRows.filter((r) => Number(r.user_key) === 1).sort((a, b) => Number(a.t) - Number(b.t));
    const at120 = u1.find((r) => Number(r.t) === 120)!;
    // s3 was clicked at 120, the same time as this sample: strictly-before excludes it.
    expect(Array.from(at120.seq_source__item_row as number[])).toEqual([itemRow("s2"), itemRow("s1"), 0]);
    expect(Number(at120.seq_source__length)).toBe(2);
    expect(Array.from(at120.seq_target__item_row as number[])).toEqual([0, 0, 0]);
    const at510 = u1.find((r) => Number(r.t) === 510)!;
    // Four earlier source clicks, maxlen 3: the newest three, newest first; s9 was not clicked.
    expect(Array.from(at510.seq_source__item_row as number[])).toEqual([itemRow("s4"), itemRow("s3"), itemRow("s2")]);
    expect(Number(at510.seq_source__length)).toBe(3);
    // Its own entity's history: t1 (clicked at 120); t2 at 410 was not a click.
    expect(Number(at510.seq_target__length)).toBe(1);
  });

  it("fits vocabularies and buckets on the training split only", async () => {
    const result = await prepareFixture(await tempDir(), fixture());
    const test = await readParquetRows(join(result.dir, "target/test.parquet"));
    const fresh = test.find((r) => Number(r.t) === 590)!;
    expect(Number(fresh.target__item_id)).toBe(1); // out of vocabulary
    const price = result.schema.features.find((f) => f.column === "source__price")!;
    const trainPrices = (await readParquetRows(join(result.dir, "source/train.parquet"))).map((r) => Number(r.source__price));
    expect(price.boundaries!.length).toBeGreaterThan(0);
    expect(Math.min(...trainPrices)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...trainPrices)).toBeLessThan(price.vocabSize);
    // Target rows have no source-specific features: id 0, never NaN.
    expect(test.every((r) => Number(r.source__price) === 0 && Number(r.source__condition) === 0)).toBe(true);
  });

  it("samples negatives for a log of positives only, never an item the user clicked", async () => {
    const files = fixture();
    const positives = ["user_id,item_id,ts,style,category"];
    for (let u = 1; u <= 6; u++) for (let s = 0; s < 6; s++) positives.push(`u${u},t${(u + s) % 12},${s * 100 + u},${u % 2 ? "story" : "meme"},c${s % 3}`);
    files["raw/target.csv"] = positives.join("\n") + "\n";
    files["spec.yaml"] = files["spec.yaml"]!.replace(
      "    label: { column: click }\n    specific:\n      - { name: style }",
      "    negatives: { per_positive: 2, strategy: popularity }\n    specific:\n      - { name: style }",
    );
    const result = await prepareFixture(await tempDir(), files);
    const rows = (
      await Promise.all(["target/train", "target/valid", "target/test"].map((s) => readParquetRows(join(result.dir, `${s}.parquet`))))
    ).flat();
    const pos = rows.filter((r) => Number(r.label) === 1);
    const neg = rows.filter((r) => Number(r.label) === 0);
    expect(pos.length).toBe(36);
    // Exactly 2 per positive, each group in its positive's split (test/prepare-negatives.test.ts checks the rest).
    expect(neg.length).toBe(72);
    expect(result.stats.negatives.target).toMatchObject({ groups: 36, groupsCut: 0, duplicateNegatives: 0, droppedPositives: 0 });
    const clicked = new Set(pos.map((r) => `${r.user_key}:${r.item_row}`));
    expect(neg.some((r) => clicked.has(`${r.user_key}:${r.item_row}`))).toBe(false);
  });

  it("splits by per-user order when there is no time column", async () => {
    const files = fixture();
    files["spec.yaml"] = files["spec.yaml"]!
      .replaceAll("    time_column: ts\n", "")
      .replace("split: { by: time, slice_seconds: 100 }", "split: { by: user_order, test_fraction: 0.2, valid_fraction: 0.2 }");
    const result = await prepareFixture(await tempDir(), files);
    const test = await readParquetRows(join(result.dir, "target/test.parquet"));
    const train = await readParquetRows(join(result.dir, "target/train.parquet"));
    // Each background user has 6 target rows: the last 20% (1 row) is test, the one before valid.
    for (let user = 2; user <= 9; user++) {
      const last = Math.max(...train.filter((r) => Number(r.user_key) === user).map((r) => Number(r.t)));
      const held = test.filter((r) => Number(r.user_key) === user).map((r) => Number(r.t));
      expect(held.length).toBe(1);
      expect(held[0]!).toBeGreaterThan(last);
    }
  });
});

describe("raw value types", () => {
  it("typed Parquet tables (integer ids, double prices) prepare to the same files as the same tables as text (CSV)", async () => {
    // Integer ids whose numeric order differs from their text order (9 < 10 but "10" < "9"):
    // vocabulary ids, user keys and item rows must follow the text order either way.
    const files = fixture();
    const numeric = (csv: string) => csv.replace(/\b[ust](\d+)\b/g, (_, n: string) => String(5 + Number(n))).replace(/t_new/g, "99");
    files["raw/source.csv"] = numeric(files["raw/source.csv"]!);
    files["raw/target.csv"] = numeric(files["raw/target.csv"]!);
    const textDir = await tempDir();
    const text = await prepareFixture(textDir, files);

    const typedDir = await tempDir();
    const duck = await openDuck();
    const types: Record<string, string> = {};
    try {
      await mkdir(join(typedDir, "raw"));
      for (const name of ["source", "target"]) {
        const csv = join(typedDir, "raw", `${name}.csv`);
        await writeFile(csv, files[`raw/${name}.csv`]!);
        await duck.con.run(`COPY (SELECT * FROM read_csv(${sqlString(csv)})) TO ${sqlString(join(typedDir, "raw", `${name}.parquet`))} (FORMAT parquet)`);
        for (const row of await queryObjects(duck.con, `DESCRIBE SELECT * FROM read_parquet(${sqlString(join(typedDir, "raw", `${name}.parquet`))})`)) {
          types[`${name}.${String(row.column_name)}`] = String(row.column_type);
        }
      }
    } finally {
      duck.close();
    }
    // The typed path is really taken: ids are integers and prices doubles in the Parquet tables.
    expect(types["source.user_id"]).toMatch(/INT/);
    expect(types["target.item_id"]).toMatch(/INT/);
    expect(types["source.price"]).toBe("DOUBLE");
    const typedSpec = files["spec.yaml"]!.replace("source.csv", "source.parquet").replace("target.csv", "target.parquet");
    const typed = await prepareFixture(typedDir, { "spec.yaml": typedSpec });

    expect(typed.stats.fingerprint).toBe(text.stats.fingerprint);
    const relative = (dir: string) => readdir(dir, { recursive: true }).then((names) => names.filter((n) => n.endsWith(".tsv") || n.endsWith(".parquet")).sort());
    const names = await relative(text.dir);
    expect(await relative(typed.dir)).toEqual(names);
    for (const name of names) expect(await readFile(join(typed.dir, name)), name).toEqual(await readFile(join(text.dir, name)));
  });
});

describe("prepare stops on bad raw data with file, row and column", () => {
  it("a missing raw file", async () => {
    const files = fixture();
    files["spec.yaml"] = files["spec.yaml"]!.replace("path: target.csv", "path: nothere.csv");
    await expectPrepareError(files, /raw\/nothere\.csv: does not exist$/);
  });

  it("an empty raw file", async () => {
    await expectPrepareError({ ...fixture(), "raw/target.csv": "" }, /target\.csv: raw table 'tgt' is empty/);
  });

  it("a row that does not parse", async () => {
    const files = fixture();
    const lines = files["raw/source.csv"]!.split("\n");
    lines.splice(4, 0, "u1,s1,15,1,9.5,new,c1,EXTRA"); // becomes line 5
    await expectPrepareError({ ...files, "raw/source.csv": lines.join("\n") }, /source\.csv: line 5.*does not parse/);
  });

  it("a missing user id", async () => {
    const files = fixture();
    const lines = files["raw/source.csv"]!.split("\n");
    lines.splice(6, 0, ",s1,15,1,9.5,new,c1"); // line 7
    await expectPrepareError({ ...files, "raw/source.csv": lines.join("\n") }, /source\.csv: line 7, column user_id: missing user id/);
  });

  it("a label the rule cannot read", async () => {
    const files = fixture({ target: ["u3,t1,250,maybe,story,c1"] });
    files["spec.yaml"] = files["spec.yaml"]!.replace("label: { column: click }\n    specific:\n      - { name: style }", 'label: { column: click, rule: ">= 1" }\n    specific:\n      - { name: style }');
    const line = files["raw/target.csv"]!.trim().split("\n").length;
    // The value is the file's content: named by line and column, never quoted.
    await expectPrepareError(files, new RegExp(`target\\.csv: line ${line}, column click: label is not a finite number$`));
  });

  it("a label that is not 0/1", async () => {
    await expectPrepareError(fixture({ target: ["u3,t1,250,yes,story,c1"] }), /target\.csv: line \d+, column click: label is not 0\/1/);
  });

  it("a numeric field that is not a number", async () => {
    await expectPrepareError(fixture({ source: ["u3,s1,250,1,cheap,new,c1"] }), /source\.csv: line \d+, column price: price is not a number$/);
  });

  it("on_bad_rows: skip drops bad rows and counts them per reason", async () => {
    const files = fixture({ source: ["u3,s1,250,1,cheap,new,c1", ",s1,251,1,3,new,c1"], target: ["u3,t1,250,yes,story,c1"] });
    files["spec.yaml"] += "on_bad_rows: skip\n";
    const clean = await prepareFixture(await tempDir(), fixture());
    const result = await prepareFixture(await tempDir(), files);
    expect(result.stats.badRows).toEqual({
      "source: missing user id": 1,
      "source: price is not a number": 1,
      "target: label is not 0/1": 1,
    });
    expect(result.stats.rawRows).toBe(clean.stats.rawRows);
  });
});
