// Durations as CrowdSec and its bouncers write them: Go's time.Duration text
// ("4h", "1h30m", "3h59m12s", "850ms"). Hand-written because the bouncers
// parse exactly Go's syntax and no well-kept npm package prints it; both
// directions are a few lines.

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** Parse "4h", "90m", "1h30m", "45s", "500ms" to milliseconds; undefined when malformed or not positive. */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (!/^(\d+(\.\d+)?(h|ms|m|s))+$/.test(s)) return undefined;
  let ms = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g)) ms += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  ms = Math.round(ms);
  return ms > 0 && Number.isSafeInteger(ms) ? ms : undefined;
}

/**
 * Go's Duration.String() of `ms` at millisecond resolution: "3h59m12s",
 * "4m0.5s", "850ms", "0s". Negative values print as "0s" (a decision never
 * has less than nothing left).
 */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.floor(ms));
  if (total === 0) return '0s';
  if (total < 1000) return `${total}ms`;
  const h = Math.floor(total / 3_600_000);
  const m = Math.floor((total % 3_600_000) / 60_000);
  const rest = total % 60_000;
  const sec = Math.floor(rest / 1000);
  const frac = rest % 1000;
  // Go prints the fraction without trailing zeros: .5, .25, .125
  const secText = frac === 0 ? `${sec}` : frac % 100 === 0 ? `${sec}.${frac / 100}` : frac % 10 === 0 ? `${sec}.${frac < 100 ? '0' : ''}${frac / 10}` : `${sec}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}`;
  if (h > 0) return `${h}h${m}m${secText}s`;
  if (m > 0) return `${m}m${secText}s`;
  return `${secText}s`;
}
