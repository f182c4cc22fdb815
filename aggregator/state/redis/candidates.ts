// Rule candidates of the Redis backend, read a part at a time. Findings and
// the sweep read every candidate's history; read all at once, they held ~10 KB
// per candidate until the last answer came: 100,000 error_ip candidates (a
// million failures, which anyone who can post records can send) took one
// scrape from ~110 MB to ~1.1 GB RSS. A part at a time keeps it at a part.
import type { Scripts } from './service';

/** Candidates whose histories are read (and their steps written) at once. */
export const CANDIDATES_PART = 500;

/**
 * The members of candidate sets: per member, the rules (bit i for rule i)
 * whose set holds it, over `sets` (per slot group, one set per rule); a rule
 * not `wanted` is not read.
 */
export async function candidatesOf(
  r: Scripts,
  sets: readonly (readonly string[])[],
  wanted?: readonly boolean[],
): Promise<[string, number][]> {
  const rules = new Map<string, number>();
  const lists = await Promise.all(
    sets.flatMap((keys) => keys.map(async (key, i) => ({ i, members: wanted === undefined || wanted[i] ? await r.smembers(key) : [] }))),
  );
  for (const { i, members } of lists) for (const m of members) rules.set(m, (rules.get(m) ?? 0) | (1 << i));
  return [...rules];
}

/** `each` over `items` a CANDIDATES_PART at a time, one part after the other. */
export async function inParts<T>(items: readonly T[], each: (part: readonly T[]) => Promise<void>): Promise<void> {
  for (let at = 0; at < items.length; at += CANDIDATES_PART) await each(items.slice(at, at + CANDIDATES_PART));
}
