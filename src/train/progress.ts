import cliProgress from "cli-progress";

/** Live feedback during one training epoch. */
export interface EpochProgress {
  update(samples: number, loss: number): void;
  stop(): void;
}

const SILENT: EpochProgress = { update: () => undefined, stop: () => undefined };

/**
 * A progress bar on stderr showing samples/s and the running loss, or nothing. The bar is drawn
 * only when `enabled` (the caller's choice, false in JSON mode) and stderr is a terminal, so logs
 * piped to a file never carry control characters.
 */
export function epochProgress(label: string, totalSamples: number, enabled: boolean): EpochProgress {
  if (!enabled || !process.stderr.isTTY) return SILENT;
  const bar = new cliProgress.SingleBar({
    format: `${label} |{bar}| {value}/{total} | {speed} samples/s | loss {loss} | {duration_formatted}`,
    stream: process.stderr,
    clearOnComplete: true,
    hideCursor: true,
  });
  const started = performance.now();
  bar.start(totalSamples, 0, { speed: "-", loss: "-" });
  return {
    update(samples, loss) {
      const speed = Math.round(samples / Math.max((performance.now() - started) / 1000, 1e-3));
      bar.update(samples, { speed, loss: loss.toFixed(4) });
    },
    stop: () => bar.stop(),
  };
}
