// Durations as CrowdSec and its bouncers write them: Go's time.Duration text
// ("4h", "1h30m", "3h59m12s", "850ms"). Hand-written because the bouncers
// parse exactly Go's syntax and no well-kept npm package prints it; both
// directions are a few lines.

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/**
 * The longest duration a bouncer can read: Go's time.Duration is an int64 of
 * nanoseconds (2562047h47m16.854775807s). The real crowdsec-firewall-bouncer
 * fails to insert every ban of a pull whose durations are longer, so a ban
 * "for 342 years" (3000000h) was listed as active and enforced nowhere.
 */
export const MAX_DURATION_MS = Math.floor((2 ** 63 - 1) / 1e6);

/** Parse "4h", "90m", "1h30m", "45s", "500ms" to milliseconds; undefined when malformed, not positive or over MAX_DURATION_MS. */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (!/^(\d+(\.\d+)?(h|ms|m|s))+$/.test(s)) return undefined;
  let ms = 0;
  for (const m of s.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s)/g)) ms += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
  ms = Math.round(ms);
  return ms > 0 && ms <= MAX_DURATION_MS ? ms : undefined;
}

/**
 * Go's Duration.String() of `ms` at millisecond resolution: "3h59m12s",
 * "4m0.5s", "850ms", "0s". Negative values print as "0s" (a decision never
 * has less than nothing left), longer ones than MAX_DURATION_MS as it: a ban
 * stored before that bound was enforced (a decisions file, a shared Redis)
 * would otherwise make a bouncer refuse every ban of the pull.
 */
export function formatDuration(ms: number): string {
  const total = clampMs(ms);
  if (total === 0) return '0s';
  if (total < 1000) return `${total}ms`;
  const h = Math.floor(total / 3_600_000);
  const m = Math.floor((total % 3_600_000) / 60_000);
  const rest = total % 60_000;
  const sec = Math.floor(rest / 1000);
  const frac = rest % 1000;
  // Go prints the fraction without trailing zeros: .5, .25, .125
  const secText =
    frac === 0
      ? `${sec}`
      : frac % 100 === 0
        ? `${sec}.${frac / 100}`
        : frac % 10 === 0
          ? `${sec}.${frac < 100 ? '0' : ''}${frac / 10}`
          : `${sec}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}`;
  if (h > 0) return `${h}h${m}m${secText}s`;
  if (m > 0) return `${m}m${secText}s`;
  return `${secText}s`;
}

/** A duration to print: whole ms within [0, MAX_DURATION_MS]. */
function clampMs(ms: number): number {
  return Math.min(MAX_DURATION_MS, Math.max(0, Math.floor(ms)));
}

/** the longest formatDuration text of a safe integer, with room to spare */
export const MAX_DURATION_BYTES = 32;

/**
 * formatDuration(ms) written as ASCII bytes into `buf` at `at`; returns the
 * end. The stream's startup answer writes 10,000 of these per pull: bytes
 * straight into the answer's buffer, no string per decision.
 */
export function writeDuration(buf: Buffer, at: number, ms: number): number {
  const total = clampMs(ms);
  let p = at;
  if (total < 1000) {
    p = writeUint(buf, p, total);
    if (total > 0) buf[p++] = 0x6d; // m
    buf[p++] = 0x73; // s
    return p;
  }
  const h = Math.floor(total / 3_600_000);
  const m = Math.floor((total % 3_600_000) / 60_000);
  const rest = total % 60_000;
  const frac = rest % 1000;
  if (h > 0) {
    p = writeUint(buf, p, h);
    buf[p++] = 0x68; // h
  }
  if (h > 0 || m > 0) {
    p = writeUint(buf, p, m);
    buf[p++] = 0x6d; // m
  }
  p = writeUint(buf, p, Math.floor(rest / 1000));
  if (frac !== 0) {
    // without trailing zeros, as Go prints it
    const d2 = Math.floor(frac / 10) % 10;
    const d3 = frac % 10;
    buf[p++] = 0x2e; // .
    buf[p++] = 0x30 + Math.floor(frac / 100);
    if (d2 !== 0 || d3 !== 0) buf[p++] = 0x30 + d2;
    if (d3 !== 0) buf[p++] = 0x30 + d3;
  }
  buf[p++] = 0x73; // s
  return p;
}

function writeUint(buf: Buffer, at: number, n: number): number {
  let digits = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
  for (let i = at + digits - 1, x = n; i >= at; i--, x = Math.floor(x / 10)) buf[i] = 0x30 + (x % 10);
  return at + digits;
}
