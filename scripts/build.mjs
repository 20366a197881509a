// `npm run build` (also run by `npm ci` and `npm install`, as the `prepare` script): compiles src/
// to dist/ (tsconfig.build.json), then writes the sources' digest into dist/, last, so that only a
// complete build of the current sources is ever run by bin/mkt.
import { spawnSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DIGEST_FILE, STAMP_FILE, sourceDigest, sourceStamp } from "./source-digest.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
let tsc;
try {
  tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
} catch {
  // An install without devDependencies: bin/mkt runs the sources through tsx (a dependency) instead.
  console.warn("mkt build: typescript is not installed (devDependencies omitted): dist/ not built, bin/mkt will run the TypeScript sources through tsx");
  process.exit(0);
}
// Taken before compiling (the stamp first): a source edited during the build leaves a stamp and a
// digest that no longer match.
const stamp = sourceStamp(root);
const digest = sourceDigest(root);
rmSync(join(root, "dist"), { recursive: true, force: true });
const result = spawnSync(process.execPath, [tsc, "-p", join(root, "tsconfig.build.json")], { stdio: "inherit" });
if (result.status !== 0) {
  console.error("mkt build: tsc failed: dist/ is incomplete and will not be run");
  process.exit(result.status ?? 1);
}
writeFileSync(join(root, "dist", STAMP_FILE), stamp);
writeFileSync(join(root, "dist", DIGEST_FILE), `${digest}\n`);
