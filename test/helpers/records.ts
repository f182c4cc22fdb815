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

/** A record as POST /v1/records takes it (docs/api.md), of the service orders unless `extra` says otherwise. */
export function wireRec(
  ts: number,
  ip: string,
  status: number,
  extra: Record<string, unknown> = {},
): { ts: number; ip: string; status: number; service: string; [field: string]: unknown } {
  return { ts, ip, status, service: 'orders', ...extra };
}

/** n records of one IP, evenly spread over [from, from + spanMs). */
export function burst(
  n: number,
  from: number,
  spanMs: number,
  ip: string,
  status: number,
  service = 'orders',
  credential?: string,
): KeyedRecord[] {
  const out: KeyedRecord[] = [];
  for (let i = 0; i < n; i++) out.push(rec(from + Math.floor((i * spanMs) / n), ip, status, service, credential));
  return out;
}

/** Deterministic PRNG (mulberry32) so generated traffic is the same every run. */
export { prng } from '../../cli/kong-traffic';
