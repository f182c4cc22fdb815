// Stream positions: one per bouncer key and client address, as CrowdSec's
// Local API keeps them. Kong nodes running the Lua bouncer often share one
// key: with one position per key, each node's pull moved it past changes
// the other nodes had not pulled, and they never got those bans or unbans.

/** stream positions kept per key: beyond, the stalest go (that host's next pull gets everything) */
export const STREAMS_PER_KEY = 256;

/** The name a stream position is stored under: the key's short id and the puller's address. */
export const streamOf = (bouncer: string, address: string): string => `${bouncer}@${address}`;

/**
 * Over the stored positions: the tombstone floor (the lowest position of
 * the configured keys' streams, 0 while a configured key has none,
 * undefined when no key is configured) and the positions to forget: those
 * of a key alone (earlier releases kept one per key) and each key's
 * stalest beyond STREAMS_PER_KEY.
 */
export function planStreams(
  positions: Iterable<[string, number]>,
  bouncers: readonly string[],
  cap = STREAMS_PER_KEY,
): { floor: number | undefined; drop: string[] } {
  const byKey = new Map<string, [string, number][]>();
  const drop: string[] = [];
  for (const [s, p] of positions) {
    const at = s.indexOf('@');
    if (at < 0) {
      drop.push(s);
      continue;
    }
    const k = s.slice(0, at);
    const list = byKey.get(k);
    if (list) list.push([s, p]);
    else byKey.set(k, [[s, p]]);
  }
  for (const list of byKey.values()) {
    if (list.length <= cap) continue;
    list.sort((x, y) => y[1] - x[1]);
    for (const [s] of list.splice(cap)) drop.push(s);
  }
  if (bouncers.length === 0) return { floor: undefined, drop };
  let floor = Number.POSITIVE_INFINITY;
  for (const b of bouncers) {
    const list = byKey.get(b);
    if (!list) return { floor: 0, drop };
    for (const [, p] of list) if (p < floor) floor = p;
  }
  return { floor, drop };
}
