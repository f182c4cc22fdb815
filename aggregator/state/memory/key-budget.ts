// SIEM_MAX_KEYS as a byte budget: the in-memory state may hold what
// BYTES_PER_KEY * SIEM_MAX_KEYS bytes of RSS can, and never more than
// SIEM_MAX_KEYS keys. Every key is weighed by what it makes the process hold
// (its LRU slot and map entry, its strings, and what grows with traffic: the
// sub-buckets of a history beyond the two held inline, each remembered
// credential-IP pair); the least recently seen keys are evicted while the sum
// is over the budget. Own accounting rather than lru-cache's maxSize: a key's
// weight changes while it is held (a history spills, a credential meets
// another IP), and lru-cache weighs an entry only when it is set.
//
// The weights are RSS, not live heap: the garbage collector keeps about as
// much again as is live. They were calibrated with `npm run bench -- --only
// 11`, which sprays each kind of key at a state with a fixed heap limit.

/** RSS per SIEM_MAX_KEYS slot the state may grow by (docs/configuration.md) */
export const BYTES_PER_KEY = 400;

/**
 * Any IP key: its 32-byte slot record, the LRU's per-slot arrays and map
 * entry, its boxed number key, and its entries in rule candidates.
 */
export const IP_KEY_BYTES = 280;
/** a history spilled out of its slot: the array and its map entry */
export const SPILL_BYTES = 240;
/** one sub-bucket of a spilled history (5 numbers, with the array's growth room; 104 B when it held 4) */
export const SPILL_ENTRY_BYTES = 130;
/** a credential key: the LRU slot and map entry, the entry object, its empty IP pair arrays */
export const CREDENTIAL_BYTES = 360;
/**
 * one remembered credential-IP pair: its array slots (or its Map entry past
 * 128 pairs) with growth room, the timestamp, plus the IP string's weight,
 * counted also for an IPv4 pair held as a number (so a weight never changes
 * when the pairs move to the Map)
 */
export const CREDENTIAL_IP_BYTES = 112;

/** A string's heap size: header plus characters, one byte each when all fit, else two. */
export function stringBytes(s: string): number {
  let wide = false;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0xff) {
      wide = true;
      break;
    }
  }
  return Math.ceil((16 + (wide ? 2 : 1) * s.length) / 8) * 8 * 2;
}
