/** The module names of dist/'s entries and the source each starts from. */
export const ENTRIES: Record<string, string>;
/** Bundles the sources of the package at `root` into `outDir` (scripts/bundle.mjs). */
export function bundle(root: string, outDir: string): Promise<void>;
