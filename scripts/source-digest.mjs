// What dist/ was compiled from. `npm run build` (scripts/build.mjs) writes two files into dist/
// after compiling: a SHA-256 over every file of src/ (path and content) and the tsconfig files, and
// a stamp listing each of those files' path, size and modification time. bin/mkt runs dist/ only
// when it matches the sources as they are now, so a stale build never runs: the stamp answers in
// a few milliseconds without reading a source; when it differs (a file touched, checked out, or
// edited), the content digest decides.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join, relative } from "node:path";

export const DIGEST_FILE = "source-digest.txt";
export const STAMP_FILE = "source-stamp.txt";

/** The files dist/ is compiled from, sorted. */
function sourceFiles(root) {
  const files = readdirSync(join(root, "src"), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
  return [...files.sort(), join(root, "tsconfig.json"), join(root, "tsconfig.build.json")];
}

/** The digest of the sources under `root` (the package's directory). */
export function sourceDigest(root) {
  // node:crypto is loaded only here: loading it costs more than checking the stamp.
  const { createHash } = createRequire(import.meta.url)("node:crypto");
  const hash = createHash("sha256");
  for (const file of sourceFiles(root)) {
    hash.update(`${relative(root, file)}\0`);
    hash.update(readFileSync(file));
    hash.update("\0");
  }
  return hash.digest("hex");
}

/** Each source file's path, size and modification time, a line each. */
export function sourceStamp(root) {
  // Paths joined as strings, not with node:path: over some 170 files its calls cost more than the stats.
  const names = readdirSync(`${root}/src`, { recursive: true }).sort();
  const lines = [];
  for (const name of [...names.map((n) => `src/${n}`), "tsconfig.json", "tsconfig.build.json"]) {
    const info = statSync(`${root}/${name}`);
    if (info.isFile()) lines.push(`${name}\t${info.size}\t${info.mtimeMs}\n`);
  }
  return lines.join("");
}

function readIfExists(file) {
  return existsSync(file) ? readFileSync(file, "utf8") : undefined;
}

/** True when `root`/dist holds a complete build of the current sources. */
export function distIsCurrent(root) {
  const digest = readIfExists(join(root, "dist", DIGEST_FILE));
  if (digest === undefined) return false;
  if (readIfExists(join(root, "dist", STAMP_FILE)) === sourceStamp(root)) return true;
  return digest.trim() === sourceDigest(root);
}
