// Warnings of the plugin, rate-limited per topic. They go to stderr: Kong
// merges the plugin server's stdout and stderr into its error log, and stdout
// must stay clean for `--dump-all-plugins`. Not kong.log.*: that is a PDK
// round-trip, and delivery runs outside any request.

const DEFAULT_INTERVAL_MS = 10_000;

export interface RateLimitedWarn {
  /** Warn now, or count the call and say how many were held back with the next warning. */
  (message: string): void;
}

export function rateLimitedWarn(topic: string, intervalMs = DEFAULT_INTERVAL_MS, now: () => number = Date.now): RateLimitedWarn {
  let last = -Infinity;
  let held = 0;
  return (message: string) => {
    const t = now();
    if (t - last < intervalMs) {
      held++;
      return;
    }
    const more = held > 0 ? ` (${held} similar held back)` : '';
    last = t;
    held = 0;
    warn(`${topic}: ${message}${more}`);
  };
}

export function warn(message: string): void {
  process.stderr.write(`[siem] warn: ${message}\n`);
}
