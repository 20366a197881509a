// What dist/ was compiled from: a SHA-256 over every file of src/ (path and content) and the
// tsconfig files. `npm run build` (scripts/build.mjs) writes it into dist/ after compiling;
// bin/mkt runs dist/ only when it matches the sources as they are now, so a stale build never runs.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";

export const DIGEST_FILE = "source-digest.txt";

/** The digest of the sources under `root` (the package's directory). */
export function sourceDigest(root) {
  const hash = createHash("sha256");
  const files = readdirSync(join(root, "src"), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
  for (const file of [...files.sort(), join(root, "tsconfig.json"), join(root, "tsconfig.build.json")]) {
    hash.update(`${relative(root, file)}\0`);
    hash.update(readFileSync(file));
    hash.update("\0");
  }
  return hash.digest("hex");
}

/** True when `root`/dist holds a complete build of the current sources. */
export function distIsCurrent(root) {
  const stamp = join(root, "dist", DIGEST_FILE);
  return existsSync(stamp) && readFileSync(stamp, "utf8").trim() === sourceDigest(root);
}
