/** Bundles the sources of the package at `root` into `outDir` (scripts/bundle.mjs). */
export function bundle(root: string, outDir: string): Promise<void>;
