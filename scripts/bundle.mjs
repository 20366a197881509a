// The compiled CLI: esbuild bundles the sources into `outDir` (dist/ for `npm run build`): one
// module per entry — the CLI (mkt.js), a replica worker thread's (worker.js) and the stage model
// that worker builds (stage-replica.js) — with the code they share in outDir/chunks/. Node then
// loads a few files where it loaded some 190 (src/ compiled file by file, yaml's 70-odd files):
// a spec error answers sooner (docs/performance.md, "The CLI's start"). Packages are loaded
// from node_modules as they are, except the pure-JavaScript ones every command needs (BUNDLED).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

/** Packages bundled into the CLI: no native code, no files read by path, loaded by every command. */
const BUNDLED = ["commander", "yaml", "zod"];

/** The module names of dist/'s entries (`<name>.js` at its top), and the source each starts from. */
const ENTRIES = { mkt: "src/cli/run.ts", worker: "src/train/parallel/worker.ts", "stage-replica": "src/run/stage-replica.ts" };

export async function bundle(root, outDir) {
  const esbuild = createRequire(join(root, "package.json"))("esbuild");
  const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const packages = [...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.optionalDependencies ?? {})];
  await esbuild.build({
    absWorkingDir: root,
    entryPoints: Object.fromEntries(Object.entries(ENTRIES).map(([name, source]) => [name, join(root, source)])),
    outdir: outDir,
    chunkNames: "chunks/[name]-[hash]",
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    sourcemap: true,
    logLevel: "warning",
    external: packages.filter((name) => !BUNDLED.includes(name)).flatMap((name) => [name, `${name}/*`]),
    // The bundled CommonJS packages (commander, yaml) call require() for Node's modules.
    banner: { js: "import { createRequire as __mktCreateRequire } from 'node:module'; const require = __mktCreateRequire(import.meta.url);" },
  });
}
