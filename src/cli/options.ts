import type { Command } from "commander";
import type { BackendChoice } from "../engine/index.ts";
import { UserError } from "../util/errors.ts";
import { configureLogger } from "../util/log.ts";

/** pino's levels, as --log-level and MKT_LOG_LEVEL take them. */
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];

/** Options every command takes (set on the program, read with optsWithGlobals). */
export interface GlobalOptions {
  json: boolean;
  backend: BackendChoice;
  kernelOverrides: boolean;
  /** "auto" or a positive integer (see replicaCount). */
  workers: string;
  out: string;
  logLevel?: string;
}

export function globalOptions(command: Command): GlobalOptions {
  const options = command.optsWithGlobals<GlobalOptions>();
  const fromEnv = process.env.MKT_LOG_LEVEL;
  if (options.logLevel === undefined && fromEnv !== undefined && !LOG_LEVELS.includes(fromEnv)) {
    throw new UserError(`MKT_LOG_LEVEL: expected one of ${LOG_LEVELS.join(", ")}`);
  }
  configureLogger({ json: options.json, level: options.logLevel });
  return options;
}
