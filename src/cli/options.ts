import type { Command } from "commander";
import type { BackendChoice } from "../engine/backend.ts";
import { configureLogger } from "../util/log.ts";

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
  configureLogger({ json: options.json, level: options.logLevel });
  return options;
}
