import { createRequire } from "node:module";
import type { Logger } from "pino";

// pino and pino-pretty load at the logger's first use: a command that stops at a bad spec or flag never loads them.
const require = createRequire(import.meta.url);

let current: Logger | undefined;
let configured: LogOptions | undefined;
/** Where human-readable lines go instead of stderr (while a progress bar is drawn: above it). */
let lineWriter: ((line: string) => void) | undefined;

export interface LogOptions {
  json: boolean;
  level?: string;
}

/**
 * One logger for the process: JSON lines with `--json`, human-readable (pino-pretty) otherwise.
 * Logs go to stderr so that stdout stays for tables and summaries. The logger is made at its first use.
 */
export function configureLogger(options: LogOptions): void {
  configured = options;
  current = undefined;
}

export function log(): Logger {
  current ??= createLogger(configured ?? { json: true, level: process.env.MKT_LOG_LEVEL ?? "silent" });
  return current;
}

/**
 * Hands human-readable log lines to `writer` instead of writing them to stderr (undefined: stderr
 * again). The progress bar (train/progress.ts) writes them above itself, so no line overprints it.
 */
export function routeLogLines(writer: ((line: string) => void) | undefined): void {
  lineWriter = writer;
}

function createLogger(options: LogOptions): Logger {
  const pino = require("pino") as typeof import("pino");
  const level = options.level ?? process.env.MKT_LOG_LEVEL ?? "info";
  if (options.json) return pino({ level }, pino.destination(2));
  // Formatted in this thread (not in pino's transport worker), so each line is written in order with the bar's redraws.
  const { prettyFactory } = require("pino-pretty") as typeof import("pino-pretty");
  const pretty = prettyFactory({ colorize: process.stderr.isTTY === true, translateTime: "HH:MM:ss", ignore: "pid,hostname" });
  return pino(
    { level },
    {
      write(line: string) {
        const text = pretty(line);
        if (lineWriter) lineWriter(text);
        else process.stderr.write(text);
      },
    },
  );
}
