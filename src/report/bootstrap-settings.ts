/** The bootstrap's settings, apart from intervals.ts so that the CLI's help can name the defaults without loading the report. */
export interface BootstrapSettings {
  /** Resamples B; 0 turns the intervals off. */
  resamples: number;
  seed: number;
}

export const DEFAULT_BOOTSTRAP: BootstrapSettings = { resamples: 1000, seed: 1 };
