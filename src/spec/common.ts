import { z } from "../util/zod.ts";

/** Longest name that becomes a directory or file name (datasets, experiments, fields): short enough for every file system. */
export const MAX_NAME_CHARS = 64;

/** A path written in a spec: non-empty, no control characters (a NUL cannot be in a file name). */
export const specPath = z
  .string()
  .min(1)
  .max(4096)
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\u0000-\u001f]*$/, "expected a path without control characters");
