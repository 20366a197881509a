import type { Command } from "commander";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_BOOTSTRAP } from "../../report/bootstrap-settings.ts";
import { checkOutputDir } from "../../util/files.ts";
import { UserError } from "../../util/errors.ts";
import { globalOptions } from "../options.ts";

export function registerReport(program: Command): void {
  program
    .command("report")
    .description("write Tables 2–4 (Markdown, CSV, JSON) and a self-contained HTML page from a run directory (or a suite's report from a suite directory), and print them")
    .argument("<run-dir>", "run directory (results/runs/<experiment>-<key>) or suite directory (results/suites/<suite>)")
    .option("--to <dir>", "where to write the report (default: <run-dir>/report)")
    .option("--resamples <n>", `per-user bootstrap resamples behind Table 2's intervals; 0 for none (default ${DEFAULT_BOOTSTRAP.resamples})`)
    .option("--bootstrap-seed <n>", `seed of the bootstrap's resamples (default ${DEFAULT_BOOTSTRAP.seed})`)
    .action(async (dir: string, options: { to?: string; resamples?: string; bootstrapSeed?: string }, command: Command) => {
      globalOptions(command);
      if (options.to !== undefined) await checkOutputDir(options.to, "--to");
      const integer = (text: string | undefined, fallback: number, flag: string, min: number) => {
        if (text === undefined) return fallback;
        const value = Number(text);
        if (!Number.isInteger(value) || value < min) throw new UserError(`${flag} ${text}: expected an integer ≥ ${min}`);
        return value;
      };
      const bootstrap = {
        resamples: integer(options.resamples, DEFAULT_BOOTSTRAP.resamples, "--resamples", 0),
        seed: integer(options.bootstrapSeed, DEFAULT_BOOTSTRAP.seed, "--bootstrap-seed", 0),
      };
      // Loaded here, not at start: `mkt --help` loads no report code.
      const [{ readSuite, SUITE_FILE }, { writeSuiteReport }, { writeReport }] = await Promise.all([
        import("../../run/suite.ts"),
        import("../../report/suite.ts"),
        import("../../report/index.ts"),
      ]);
      const { markdown, files } = existsSync(join(dir, SUITE_FILE))
        ? await writeSuiteReport(await readSuite(dir), options.to ?? join(dir, "report"))
        : await writeReport(dir, options.to, bootstrap);
      process.stdout.write(`${markdown}\n\nwritten: ${files.join(", ")}\n`);
    });
}
