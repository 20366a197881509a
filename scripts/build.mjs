// `npm run build` (also run by `npm ci` and `npm install`, as the `prepare` script): bundles the
// sources into dist/ (scripts/bundle.mjs), then writes the sources' digest into dist/, last, so
// that only a complete build of the current sources is ever run by bin/mkt.
import { rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { bundle } from "./bundle.mjs";
import { DIGEST_FILE, STAMP_FILE, sourceDigest, sourceStamp } from "./source-digest.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
// Taken before bundling (the stamp first): a source edited during the build leaves a stamp and a
// digest that no longer match.
const stamp = sourceStamp(root);
const digest = sourceDigest(root);
rmSync(join(root, "dist"), { recursive: true, force: true });
try {
  await bundle(root, join(root, "dist"));
} catch (error) {
  console.error(`mkt build: ${error instanceof Error ? error.message : String(error)}: dist/ is incomplete and will not be run`);
  process.exit(1);
}
writeFileSync(join(root, "dist", STAMP_FILE), stamp);
writeFileSync(join(root, "dist", DIGEST_FILE), `${digest}\n`);
