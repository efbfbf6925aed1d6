/**
 * Progress of long work (rebuild, export, import, migrate) on stderr, so stdout stays the
 * command's output. cli-progress (widely used, maintained, no dependencies beyond string-width)
 * draws the bar with events/s and ETA, and stays silent when stderr is not a terminal, so logs
 * and pipes get no control characters; --no-progress turns it off outright.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, total?: number): void;
  stop(): void;
}

const QUIET: Progress = { update: () => undefined, stop: () => undefined };

export function startProgress(label: string, total: number, enabled = true): Progress {
  if (!enabled || !process.stderr.isTTY) return QUIET;
  const startedAt = performance.now();
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label.padEnd(9)} [{bar}] {percentage}% | {value}/{total} events | {rate} events/s | ETA {eta_formatted}`,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(Math.max(total, 1), 0, { rate: '0' });
  return {
    update(done, newTotal) {
      if (newTotal !== undefined && newTotal !== total) {
        total = newTotal;
        bar.setTotal(Math.max(total, 1));
      }
      const seconds = (performance.now() - startedAt) / 1000;
      bar.update(done, { rate: seconds > 0 ? Math.round(done / seconds).toString() : '0' });
    },
    stop() {
      bar.stop();
    },
  };
}
