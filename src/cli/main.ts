import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { UserError, oneLine } from "../util/errors.ts";
import { fsUserError } from "../util/files.ts";
import { registerBaselines } from "./commands/baselines.ts";
import { registerExport } from "./commands/export.ts";
import { registerInfo } from "./commands/info.ts";
import { registerMktCommands } from "./commands/mkt.ts";
import { registerReport } from "./commands/report.ts";
import { registerRun } from "./commands/run.ts";
import { registerPrepare } from "./commands/prepare.ts";
import { LOG_LEVELS } from "./options.ts";

export function buildProgram(): Command {
  const program = new Command("mkt")
    .description("Multi-entity cross-domain CTR prediction: MKT and ten baselines on TensorFlow.js")
    .version("0.1.0")
    .option("--json", "log JSON lines and print machine-readable output", false)
    .addOption(new Option("--backend <backend>", "tfjs backend").choices(["auto", "gpu", "node", "wasm", "cpu"]).default("auto"))
    .option("--no-kernel-overrides", "run tfjs kernels as shipped (no mkt kernel overrides)")
    .option("--workers <n>", "training replicas, each on its own thread, in synchronous data-parallel steps; 'auto': one per core on wasm and cpu, 1 on gpu and node", parseWorkers, "1")
    .option("--out <dir>", "root directory of prepared data and run outputs (a directory, or absent: then created)", parseOut, "results")
    .addOption(new Option("--log-level <level>", "pino log level").choices(LOG_LEVELS))
    // Every error on one line: commander's own (unknown option, bad choice, missing argument) too.
    .configureOutput({ outputError: (text, write) => write(`mkt: ${oneLine(text.replace(/^error: /, ""))} (mkt --help lists the commands)\n`) })
    .exitOverride();
  registerPrepare(program);
  registerInfo(program);
  registerMktCommands(program);
  registerExport(program);
  registerBaselines(program);
  registerRun(program);
  registerReport(program);
  return program;
}

/** Runs the CLI; returns the exit code. User errors are one line on stderr, never a stack trace. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    // A file-system error (unreadable, read-only, full, a path that is a file) is the user's to fix, like a bad spec.
    const userError = error instanceof UserError ? error : fsUserError(error);
    if (userError) {
      process.stderr.write(`mkt: ${oneLine(userError.message)}\n`);
      return userError.exitCode;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`mkt: internal error: ${message.split("\n")[0]}\n`);
    if (process.env.MKT_DEBUG) process.stderr.write(`${error instanceof Error ? error.stack : ""}\n`);
    else process.stderr.write("mkt: (set MKT_DEBUG=1 to print the stack trace)\n");
    return 1;
  }
}

/** --workers: a positive integer or 'auto' (checked before anything runs; the backend decides what 'auto' means). */
function parseWorkers(value: string): string {
  if (value === "auto" || (/^\d+$/.test(value) && Number(value) >= 1)) return value;
  throw new InvalidArgumentError("expected a positive integer or 'auto'");
}

/** --out: never empty (an empty path would be the current directory by accident). */
function parseOut(value: string): string {
  if (value.trim() === "") throw new InvalidArgumentError("expected a directory, got an empty path");
  return value;
}
