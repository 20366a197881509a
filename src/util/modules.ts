/**
 * Module files that are loaded by URL (worker threads, replica factories) rather than imported:
 * mkt runs from its TypeScript sources (tsx, vitest) or bundled into dist/ (bin/mkt after `npm run
 * build`, scripts/bundle.mjs), and such a URL must name the same kind of file as the module asking
 * for it — a worker started from dist/ has no TypeScript loader.
 */

/**
 * Where the module a worker thread is to load lives: bundled, dist/'s entry `entry` (`<entry>.js`
 * at dist/'s top, found from the asking code, which the bundle puts either in an entry at the top
 * or in dist/chunks/); from the sources, `source`, a path relative to the asking module.
 */
export function loadableModule(importMetaUrl: string, entry: string, source: string): URL {
  if (!new URL(importMetaUrl).pathname.endsWith(".js")) return new URL(source, importMetaUrl);
  const here = new URL(".", importMetaUrl);
  return new URL(`${entry}.js`, here.pathname.endsWith("/chunks/") ? new URL("..", here) : here);
}
