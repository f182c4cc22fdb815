// IPv4 keys as numbers in the in-memory LRU (service id * 2^32 + address): no
// string built or hashed per record.
import { ipv4Number } from '../../../common/ip-key';

export const IPV4_SPAN = 2 ** 32;
/** service ids from here on use string keys (id * 2^32 must stay a safe integer) */
export const NUMERIC_SERVICES = 2 ** 20;

/** The address of a dotted-quad IPv4 key in canonical form (as ip-key.ts gives it), else -1. */
export { ipv4Number };

export function ipv4Text(n: number): string {
  return `${Math.floor(n / 16777216)}.${Math.floor(n / 65536) & 255}.${Math.floor(n / 256) & 255}.${n & 255}`;
}

/** The LRU key of an IP key of service `sid`. */
export function lruKeyOf(sid: number, ipKey: string): number | string {
  if (sid < NUMERIC_SERVICES) {
    const n = ipv4Number(ipKey);
    if (n >= 0) return sid * IPV4_SPAN + n;
  }
  return `${sid}|${ipKey}`;
}

/** The IP key of an LRU key, as it came in. */
export function ipKeyOfLruKey(k: number | string): string {
  return typeof k === 'number' ? ipv4Text(k % IPV4_SPAN) : k.slice(k.indexOf('|') + 1);
}
