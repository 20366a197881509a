import { readFile } from "node:fs/promises";
import { dirname } from "node:path";
import { LineCounter, parseDocument, isNode, type Document } from "yaml";
import type { z } from "../util/zod.ts";
import { UserError, oneLine, quoted } from "../util/errors.ts";
import { readableFileSize } from "../util/files.ts";

/** A parsed spec together with where it came from (paths inside it are relative to `dir`). */
export interface LoadedSpec<T> {
  file: string;
  dir: string;
  value: T;
  /** The spec's text, for hashing and provenance. */
  text: string;
}

/** Largest spec file read: specs are a screenful of YAML; anything near this size is a wrong file. */
export const MAX_SPEC_BYTES = 1024 * 1024;

/** Aliases the YAML may expand (the yaml package's own default): enough for sharing blocks, not for a "billion laughs" bomb. */
const MAX_ALIAS_COUNT = 100;

/**
 * Reads a YAML spec and validates it against a zod schema (whose refinements hold the cross-field
 * rules). Every failure becomes one line: `<file>:<line>: <field>: <what was expected>` and a
 * UserError (exit code 2).
 */
export async function loadSpec<S extends z.ZodType>(file: string, schema: S): Promise<LoadedSpec<z.output<S>>> {
  const text = await readSpecText(file);
  return { file, dir: dirname(file), value: parseSpecText(file, text, schema), text };
}

/** The spec file's text: a readable regular file of at most MAX_SPEC_BYTES of UTF-8. */
async function readSpecText(file: string): Promise<string> {
  const size = await readableFileSize(file);
  if (size > MAX_SPEC_BYTES) throw new UserError(`${file}: the spec file has ${size} bytes; a spec has at most ${MAX_SPEC_BYTES} (is it the right file?)`);
  return decodeUtf8(file, await readFile(file));
}

/** Decodes UTF-8 strictly: a byte sequence that is not UTF-8 is an error naming its line, not a silent U+FFFD. */
export function decodeUtf8(file: string, bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    let line = 1;
    let start = 0;
    for (let i = 0; i <= bytes.length; i++) {
      if (i < bytes.length && bytes[i] !== 0x0a) continue;
      try {
        new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(start, i));
      } catch {
        break;
      }
      line++;
      start = i + 1;
    }
    throw new UserError(`${file}:${line}: not UTF-8 text (save the file as UTF-8)`);
  }
}

export function parseSpecText<S extends z.ZodType>(file: string, text: string, schema: S): z.output<S> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const line = lineCounter.linePos(yamlError.pos[0]).line;
    // The yaml package appends " at line L, column C:" and an excerpt of the text: the line is given already.
    const message = yamlError.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, "");
    throw new UserError(`${file}:${line}: not valid YAML: ${oneLine(message, 120)}`);
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) ?? {};
  } catch (error) {
    // toJS throws a ReferenceError for an alias without its anchor and for aliases that expand too far (a "YAML bomb").
    if (!(error instanceof ReferenceError)) throw error;
    if (error.message.startsWith("Unresolved alias")) throw new UserError(`${file}: not valid YAML: an alias (*name) has no anchor (&name) before it`);
    throw new UserError(`${file}: YAML aliases (*name) expand too far (over ${MAX_ALIAS_COUNT} nodes); write the values out`);
  }
  const notFinite = nonFinitePath(raw);
  const result = notFinite ? undefined : schema.safeParse(raw);
  if (result?.success) return result.data as z.output<S>;
  const [path, message] = notFinite ? [notFinite, "expected a finite number"] : firstIssue(result!.error);
  const line = lineOf(doc, lineCounter, path);
  const where = path.length ? path.map((p) => (typeof p === "string" && !/^[\w-]{1,60}$/.test(p) ? quoted(p, 40) : p)).join(".") : "(top level)";
  throw new UserError(`${file}${line ? `:${line}` : ""}: ${where}: ${message}`);
}

/** The first issue zod found: where (an unknown field's own path) and what is wrong. */
function firstIssue(error: z.ZodError): [(string | number)[], string] {
  const issue = error.issues[0]!;
  if (issue.code !== "unrecognized_keys") return [[...issue.path], issue.message];
  return [[...issue.path, issue.keys[0]!], "unknown field (check its spelling; see docs/specs.md for the fields this spec takes)"];
}

/** The path of the first NaN or infinity in a parsed document (YAML's .nan, .inf): no spec field takes one. */
function nonFinitePath(value: unknown, path: (string | number)[] = []): (string | number)[] | undefined {
  if (typeof value === "number") return Number.isFinite(value) ? undefined : path;
  if (typeof value !== "object" || value === null) return undefined;
  for (const [key, child] of Object.entries(value)) {
    const found = nonFinitePath(child, [...path, Array.isArray(value) ? Number(key) : key]);
    if (found) return found;
  }
  return undefined;
}

/** The line of the deepest node on `path` that exists in the document. */
function lineOf(doc: Document, lineCounter: LineCounter, path: (string | number)[]): number | undefined {
  for (let depth = path.length; depth >= 0; depth--) {
    const sub = path.slice(0, depth);
    const node = depth === 0 ? doc.contents : doc.getIn(sub, true);
    if (isNode(node) && node.range) {
      // For a key whose value is missing, point at its parent; for a present key, at its value.
      return lineCounter.linePos(node.range[0]).line;
    }
  }
  return undefined;
}
