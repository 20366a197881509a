import { readFile } from "node:fs/promises";
import { LineCounter, parseDocument, isNode, type Document } from "yaml";
import type { z } from "zod";
import { UserError } from "../util/errors.ts";

/** A parsed spec together with where it came from (paths inside it are relative to `dir`). */
export interface LoadedSpec<T> {
  file: string;
  dir: string;
  value: T;
  /** The spec's text, for hashing and provenance. */
  text: string;
}

/**
 * Reads a YAML spec and validates it against a zod schema. Every failure becomes one line:
 * `<file>:<line>: <field>: <what was expected>` and a UserError (exit code 2).
 */
export async function loadSpec<S extends z.ZodType>(file: string, schema: S): Promise<LoadedSpec<z.output<S>>> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch {
    throw new UserError(`${file}: cannot read the spec file (does it exist?)`);
  }
  return { file, dir: dirnameOf(file), value: parseSpecText(file, text, schema), text };
}

export function parseSpecText<S extends z.ZodType>(file: string, text: string, schema: S): z.output<S> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const line = lineCounter.linePos(yamlError.pos[0]).line;
    throw new UserError(`${file}:${line}: not valid YAML: ${firstLine(yamlError.message)}`);
  }
  const raw: unknown = doc.toJS() ?? {};
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = [...issue.path] as (string | number)[];
  let message = issue.message.replace(/^Invalid input: /, "");
  if (issue.code === "unrecognized_keys") {
    const key = (issue as { keys: string[] }).keys[0]!;
    path.push(key);
    message = `unknown field (check its spelling; see docs/specs.md for the fields this spec takes)`;
  }
  const line = lineOf(doc, lineCounter, path);
  const where = path.length ? path.join(".") : "(top level)";
  throw new UserError(`${file}${line ? `:${line}` : ""}: ${where}: ${message}`);
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

function firstLine(text: string): string {
  return text.split("\n")[0] ?? text;
}

function dirnameOf(file: string): string {
  const i = file.lastIndexOf("/");
  return i < 0 ? "." : file.slice(0, i) || "/";
}
