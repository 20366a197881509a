import pino, { type Logger } from "pino";

let current: Logger | undefined;

export interface LogOptions {
  json: boolean;
  level?: string;
}

/**
 * One logger for the process: JSON lines with `--json`, human-readable (pino-pretty) otherwise.
 * Logs go to stderr so that stdout stays for tables and summaries.
 */
export function configureLogger(options: LogOptions): Logger {
  const level = options.level ?? process.env.MKT_LOG_LEVEL ?? "info";
  if (options.json) {
    current = pino({ level }, pino.destination(2));
  } else {
    current = pino({
      level,
      transport: {
        target: "pino-pretty",
        options: { destination: 2, colorize: process.stderr.isTTY, translateTime: "HH:MM:ss", ignore: "pid,hostname" },
      },
    });
  }
  return current;
}

export function log(): Logger {
  if (!current) current = pino({ level: process.env.MKT_LOG_LEVEL ?? "silent" }, pino.destination(2));
  return current;
}
