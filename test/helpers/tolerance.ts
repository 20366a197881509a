/**
 * mkt's promise across code paths (docs/performance.md, "Same numbers on every machine"): the same
 * trained model scores the same row within this absolute difference on the probability, whatever
 * the batch size or composition, OpenBLAS on or off, kernel overrides on or off, replica count or
 * CPU family. Bit equality is promised only for a rerun on the same machine and path.
 */
export const SCORE_TOLERANCE = 1e-6;
