import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { openDuck, sqlString } from "../src/data/duck.ts";
import type { PrepareResult } from "../src/data/prepare/index.ts";
import { datasetSpecSchema } from "../src/spec/dataset.ts";
import { parseSpecText } from "../src/spec/load.ts";
import { positiveOnlyLog, positivesCsv } from "./helpers/positive-log.ts";
import { prepareError, prepareFixture, tempDir } from "./helpers/prepared.ts";

/**
 * A table may be several files read as one (a list of paths, or glob patterns): rows in list order,
 * a pattern's matches sorted by path. Without a time column, file order is each user's history, so a
 * table cut into parts must prepare to exactly the same files as the whole; messages name the part.
 */

const log = positiveOnlyLog({ seed: 8, users: 80 });
const sourceCsv = positivesCsv(log.source, false);
const targetLines = positivesCsv(log.target, false).trimEnd().split("\n");
const header = targetLines[0]!;
const data = targetLines.slice(1);
/** The target log cut in three parts of unequal length, each with the header. */
const cuts = [0, 40, 41, data.length];
const parts = [0, 1, 2].map((k) => [header, ...data.slice(cuts[k], cuts[k + 1])].join("\n") + "\n");

function spec(targetTable: string): string {
  return `
name: parts
raw_dir: raw
tables:
  src: { path: source.csv }
  tgt: ${targetTable}
entities:
  source: { name: product, table: src, negatives: { per_positive: 2 } }
  target: { name: content, table: tgt, negatives: { per_positive: 2 } }
split: { by: user_last, test: 1, valid: 1 }
sequence_maxlen: 3
`;
}

function files(targetTable: string, targetFiles: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = { "spec.yaml": spec(targetTable), "raw/source.csv": sourceCsv };
  for (const [name, content] of Object.entries(targetFiles)) out[`raw/${name}`] = content;
  return out;
}

const partFiles = { "target/part-1.csv": parts[0]!, "target/part-2.csv": parts[1]!, "target/part-3.csv": parts[2]! };

describe("tables.<name>.path in the spec", () => {
  it("is a path, or a non-empty list of paths and patterns", () => {
    const parse = (path: string) => parseSpecText("d.yaml", spec(`{ path: ${path} }`), datasetSpecSchema).tables.tgt!.path;
    expect(parse("target.csv")).toBe("target.csv");
    expect(parse("[a.csv, 'b/*.csv']")).toEqual(["a.csv", "b/*.csv"]);
    expect(() => parse("[]")).toThrow(/tables\.tgt\.path/);
  });
});

describe("a table of several files", () => {
  let whole: PrepareResult;
  beforeAll(async () => {
    whole = await prepareFixture(await tempDir(), files("{ path: target.csv }", { "target.csv": [header, ...data].join("\n") + "\n" }));
  });

  it("a glob prepares to the same files as the whole table", async () => {
    const globbed = await prepareFixture(await tempDir(), files("{ path: target/part-*.csv }", partFiles));
    expect(globbed.stats.rawRows).toBe(whole.stats.rawRows);
    expect(globbed.stats.fingerprint).toBe(whole.stats.fingerprint);
  });

  it("a list is read in list order (here: not the sorted order, so the histories differ)", async () => {
    const listed = await prepareFixture(await tempDir(), files("{ path: [target/part-1.csv, target/part-2.csv, target/part-3.csv] }", partFiles));
    expect(listed.stats.fingerprint).toBe(whole.stats.fingerprint);
    const reversed = await prepareFixture(await tempDir(), files("{ path: [target/part-3.csv, target/part-2.csv, target/part-1.csv] }", partFiles));
    expect(reversed.stats.rawRows).toBe(whole.stats.rawRows);
    expect(reversed.stats.fingerprint).not.toBe(whole.stats.fingerprint);
  });

  it("Parquet parts (a list of a path and a pattern) prepare to the same files", async () => {
    const dir = await tempDir();
    await mkdir(join(dir, "raw", "target"), { recursive: true });
    const duck = await openDuck();
    try {
      for (const [k, content] of parts.entries()) {
        const csv = join(dir, `part-${k + 1}.csv`);
        await writeFile(csv, content);
        await duck.con.run(`COPY (SELECT * FROM read_csv(${sqlString(csv)}, all_varchar = true)) TO ${sqlString(join(dir, "raw", "target", `part-${k + 1}.parquet`))} (FORMAT parquet)`);
      }
    } finally {
      duck.close();
    }
    const parquet = await prepareFixture(dir, files("{ path: [target/part-1.parquet, 'target/part-[23].parquet'] }", {}));
    expect(parquet.stats.fingerprint).toBe(whole.stats.fingerprint);
  });

  it("a bad row names its file and its line in that file", async () => {
    const bad = parts[2]!.trimEnd().split("\n");
    bad.splice(3, 0, ",t0001"); // line 4 of part-3
    const message = await prepareError(files("{ path: target/part-*.csv }", { ...partFiles, "target/part-3.csv": bad.join("\n") + "\n" }));
    expect(message).toMatch(/^\/\S*\/target\/part-3\.csv: line 4, column user_id: missing user id$/);
    const unparsable = parts[2]!.trimEnd().split("\n");
    unparsable.splice(6, 0, "u0001,t0001,extra"); // line 7 of part-3
    const message2 = await prepareError(files("{ path: target/part-*.csv }", { ...partFiles, "target/part-3.csv": unparsable.join("\n") + "\n" }));
    expect(message2).toMatch(/^\/\S*\/target\/part-3\.csv: line 7.*: row does not parse/);
  });

  it("files with other columns, a pattern matching nothing and a missing file are errors naming them", async () => {
    const other = parts[1]!.replace("user_id,item_id", "user,item_id");
    expect(await prepareError(files("{ path: target/part-*.csv }", { ...partFiles, "target/part-2.csv": other }))).toMatch(
      /^\/\S*\/target\/part-2\.csv: columns \(user, item_id\) differ from those of \/\S*\/target\/part-1\.csv \(user_id, item_id\)/,
    );
    expect(await prepareError(files("{ path: target/nothing-*.csv }", partFiles))).toMatch(/target\/nothing-\*\.csv: raw table 'tgt': the pattern matches no file$/);
    expect(await prepareError(files("{ path: [target/part-1.csv, target/part-9.csv] }", partFiles))).toMatch(/target\/part-9\.csv: does not exist$/);
  });
});
