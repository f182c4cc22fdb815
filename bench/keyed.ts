// Pre-keyed records for the cases that drive the state directly: IP i of the
// pool always belongs to service i % SERVICES, so "key i" is one state key.
import { ipKey } from '../common/ip-key';
import type { KeyedRecord } from '../aggregator/state/state';
import { credentialOf, ipOf } from './traffic';

export const SERVICES = 20;
export const serviceOf = (i: number): string => `svc-${String(i % SERVICES).padStart(2, '0')}`;

export function keyedRecord(i: number, ts: number, status: number, credential?: number): KeyedRecord {
  const r: KeyedRecord = { ts, ipKey: ipKey(ipOf(i)) as string, status, service: serviceOf(i) };
  if (credential !== undefined) r.credential = credentialOf(credential);
  return r;
}
