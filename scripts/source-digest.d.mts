// Types of source-digest.mjs (plain JavaScript: bin/mkt and the build run it without a TypeScript loader).
export declare const DIGEST_FILE: string;
export declare const STAMP_FILE: string;
export declare function sourceDigest(root: string): string;
export declare function sourceStamp(root: string): string;
export declare function distIsCurrent(root: string): boolean;
