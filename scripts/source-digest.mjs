// What dist/ was built from. `npm run build` (scripts/build.mjs) writes two files into dist/ after
// bundling: a SHA-256 over every file of src/ (path and content), tsconfig.json and the bundle's
// settings (scripts/bundle.mjs), and a stamp listing each of those files' path, size and
// modification time. bin/mkt runs dist/ only when it matches the sources as they are now, so a
// stale build never runs: the stamp answers in a few milliseconds without reading a source; when
// it differs (a file touched, checked out, or edited), the content digest decides.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { join, relative, sep } from "node:path";

export const DIGEST_FILE = "source-digest.txt";
export const STAMP_FILE = "source-stamp.txt";

/**
 * The files dist/ is compiled from, relative to `root` (with "/"), sorted. Each directory's path is
 * made relative once: node:path's calls for each of some 170 files cost more than the stamp's stats.
 */
function sourceNames(root) {
  const src = join(root, "src");
  const dirs = new Map();
  const dirOf = (parent) => {
    let dir = dirs.get(parent);
    if (dir === undefined) dirs.set(parent, (dir = ["src", ...relative(src, parent).split(sep).filter(Boolean)].join("/")));
    return dir;
  };
  const names = readdirSync(src, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => `${dirOf(entry.parentPath)}/${entry.name}`);
  return [...names.sort(), "tsconfig.json", "scripts/bundle.mjs"];
}

/** The digest of the sources under `root` (the package's directory). */
export function sourceDigest(root) {
  // node:crypto is loaded only here: loading it costs more than checking the stamp.
  const { createHash } = createRequire(import.meta.url)("node:crypto");
  const hash = createHash("sha256");
  for (const name of sourceNames(root)) {
    hash.update(`${name}\0`);
    hash.update(readFileSync(`${root}/${name}`));
    hash.update("\0");
  }
  return hash.digest("hex");
}

/** Each source file's path, size and modification time, a line each. */
export function sourceStamp(root) {
  return sourceNames(root)
    .map((name) => {
      const info = statSync(`${root}/${name}`);
      return `${name}\t${info.size}\t${info.mtimeMs}\n`;
    })
    .join("");
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
