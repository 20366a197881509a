import type { Command } from "commander";
import { writeReport } from "../../report/index.ts";
import { checkOutputDir } from "../../util/files.ts";
import { globalOptions } from "../options.ts";

export function registerReport(program: Command): void {
  program
    .command("report")
    .description("write Tables 2–4 (Markdown, CSV, JSON) and a self-contained HTML page from a run directory, and print them")
    .argument("<run-dir>", "run directory (results/runs/<experiment>-<key>)")
    .option("--to <dir>", "where to write the report (default: <run-dir>/report)")
    .action(async (dir: string, options: { to?: string }, command: Command) => {
      globalOptions(command);
      if (options.to !== undefined) await checkOutputDir(options.to, "--to");
      const { markdown, files } = await writeReport(dir, options.to);
      process.stdout.write(`${markdown}\n\nwritten: ${files.join(", ")}\n`);
    });
}
