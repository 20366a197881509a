import { z } from "./zod.ts";

/**
 * A number in a JSON file mkt writes: NaN and ±Infinity are written as null (JSON.stringify), and
 * read back as NaN.
 */
export const jsonNumber = z
  .number()
  .nullable()
  .transform((v) => v ?? Number.NaN);
