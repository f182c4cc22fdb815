// Small builders of records and traffic for tests.
import type { KeyedRecord } from '../../aggregator/state/state';
import { ipKey } from '../../common/ip-key';

export function rec(ts: number, ip: string, status: number, service = 'orders', credential?: string): KeyedRecord {
  const key = ipKey(ip);
  if (!key) throw new Error(`bad test IP ${ip}`);
  const r: KeyedRecord = { ts, ipKey: key, status, service };
  if (credential) r.credential = credential;
  return r;
}

/** n records of one IP, evenly spread over [from, from + spanMs). */
export function burst(n: number, from: number, spanMs: number, ip: string, status: number, service = 'orders', credential?: string): KeyedRecord[] {
  const out: KeyedRecord[] = [];
  for (let i = 0; i < n; i++) out.push(rec(from + Math.floor((i * spanMs) / n), ip, status, service, credential));
  return out;
}

/** Deterministic PRNG (mulberry32) so generated traffic is the same every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
