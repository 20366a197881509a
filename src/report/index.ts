import { join } from "node:path";
import { writeFilesAtomic } from "../util/atomic.ts";
import { DEFAULT_BOOTSTRAP, type BootstrapSettings } from "./bootstrap-settings.ts";
import { collectRun } from "./collect.ts";
import { table2Csv, table3Csv, table4Csv } from "./csv.ts";
import { buildHeader } from "./header.ts";
import { htmlReport } from "./html.ts";
import { bootstrapRun } from "./intervals.ts";
import { markdownDocument } from "./markdown.ts";
import { buildTables } from "./tables.ts";
import { table2View, table3View, table4View } from "./view.ts";

export interface WrittenReport {
  /** report.md: header and all three tables (what `mkt report` prints). */
  markdown: string;
  /** Paths of the files written (outDir joined with each file name). */
  files: string[];
}

/**
 * Reads a run directory and writes Tables 2–4 as Markdown, CSV and JSON, report.md and a
 * self-contained report.html into outDir, each file atomically. Incomplete runs are reported
 * as far as they go, with what is missing in the header. Table 2's intervals come from a per-user
 * bootstrap of the results' predictions (`bootstrap`, default 1,000 resamples, seed 1).
 */
export async function writeReport(runDir: string, outDir = join(runDir, "report"), bootstrap: BootstrapSettings = DEFAULT_BOOTSTRAP): Promise<WrittenReport> {
  const run = await collectRun(runDir);
  const header = buildHeader(run);
  const tables = buildTables(run, await bootstrapRun(run, bootstrap));
  const views = { table2: table2View(tables.table2), table3: table3View(tables.table3), table4: table4View(tables.table4) };
  const verdict = tables.table2.verdict.text;
  const markdown = markdownDocument(header, [views.table2, views.table3, views.table4], verdict);
  const json = (table: string, data: object) => JSON.stringify({ table, header, ...data }, null, 2) + "\n";
  const contents: Record<string, string> = {
    "table2.md": markdownDocument(header, [views.table2], verdict),
    "table2.csv": table2Csv(tables.table2),
    "table2.json": json("Table 2", tables.table2),
    "table3.md": markdownDocument(header, [views.table3]),
    "table3.csv": table3Csv(tables.table3),
    "table3.json": json("Table 3", tables.table3),
    "table4.md": markdownDocument(header, [views.table4]),
    "table4.csv": table4Csv(tables.table4),
    "table4.json": json("Table 4", tables.table4),
    "report.md": markdown,
    "report.html": htmlReport({ header, tables, views }),
  };
  return { markdown, files: await writeFilesAtomic(outDir, contents) };
}
