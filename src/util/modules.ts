/**
 * Module files that are loaded by URL (worker threads, replica factories) rather than imported:
 * mkt runs from its TypeScript sources (tsx, vitest) or compiled to dist/ (bin/mkt after `npm run
 * build`), and such a URL must name the same kind of file as the module asking for it — a worker
 * started from dist/ has no TypeScript loader.
 */

/** True when `importMetaUrl` is a module compiled to JavaScript (dist/), false for a TypeScript source. */
export function isCompiled(importMetaUrl: string): boolean {
  return new URL(importMetaUrl).pathname.endsWith(".js");
}

/** The URL of module `name` (no extension) beside `importMetaUrl`: `name.js` when compiled, else `name.ts`. */
export function siblingModule(name: string, importMetaUrl: string): URL {
  return new URL(`./${name}${isCompiled(importMetaUrl) ? ".js" : ".ts"}`, importMetaUrl);
}
