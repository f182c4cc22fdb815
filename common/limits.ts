// Every input limit, defined once and used alike at ingest, in snapshots and
// on restore, so that what ingest accepts a restart can read back (a name
// within 256 code points but over 256 UTF-16 units once made the snapshot
// loader drop the whole state). Lengths are Unicode code points everywhere,
// as JSON schema's maxLength counts them (Ajv does).

/** most code points in a record's string fields and in a service name */
export const STRING_MAX = 256;
/** most characters of an IP address's text (longest IPv6 text with a zone, generously) */
export const IP_TEXT_MAX = 64;
/** most code points of a batch id */
export const BATCH_ID_MAX = 64;
/** largest `dropped` a batch may report */
export const DROPPED_MAX = 2 ** 32;
/**
 * longest line of a state snapshot, bytes: far above any entry the limits
 * allow (a credential's IPs, an IP's sub-buckets), far below what would
 * exhaust memory when read; longer lines are neither written nor read
 */
export const SNAPSHOT_LINE_MAX = 16 * 1024 * 1024;

// ES2024 string methods (node >= 20), which the ES2022 lib does not declare.
interface WellFormedString {
  isWellFormed(): boolean;
  toWellFormed(): string;
}

/**
 * `s` with every lone surrogate replaced by U+FFFD, done before anything else
 * reads a name: a lone surrogate cannot be written as UTF-8, so the metrics
 * exposition, logs and snapshots would show two names differing only in one
 * as the same text.
 */
export function wellFormed(s: string): string {
  const w = s as unknown as WellFormedString;
  return w.isWellFormed() ? s : w.toWellFormed();
}

/** Whether `s` has at most `max` code points (fast for the common short string). */
export function withinCodePoints(s: string, max: number): boolean {
  if (s.length <= max) return true; // code points <= UTF-16 units
  if (s.length > 2 * max) return false; // each code point is at most 2 units
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // a high surrogate followed by a low one is one code point
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    if (++n > max) return false;
  }
  return true;
}

/** A non-empty string of at most STRING_MAX code points: a service name, a key in a snapshot. */
export function isBoundedName(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0 && withinCodePoints(v, STRING_MAX);
}

/**
 * The first `max` code points of `s` (never half a surrogate pair), as a
 * string of its own. Neither a concatenation of code points (V8 keeps it as
 * a rope, ~32 bytes a piece: a 256-character Host header held ~15 KB in the
 * plugin's queue, 47 times a usual record) nor a bare slice (V8 keeps the
 * whole original alive behind it): the plugin queues these while the
 * aggregator is away, up to queue_max_records of them.
 */
export function truncateCodePoints(s: string, max: number): string {
  if (withinCodePoints(s, max)) return s;
  let end = 0;
  for (let n = 0; n < max && end < s.length; n++) {
    const c = s.charCodeAt(end);
    // a high surrogate followed by a low one is one code point
    end += c >= 0xd800 && c <= 0xdbff && end + 1 < s.length && (s.charCodeAt(end + 1) & 0xfc00) === 0xdc00 ? 2 : 1;
  }
  // a flat copy: JSON text of a string parses back to a fresh sequential string
  return JSON.parse(JSON.stringify(s.slice(0, end))) as string;
}
