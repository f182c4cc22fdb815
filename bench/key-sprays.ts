// The sprays of issue 13 ("Memory bounded by bytes"), one per kind of key an
// attacker holding the ingest path can make costly: each yields batches of
// keyed records for a state capped at `maxKeys`, enough to fill its byte
// budget many times over. Shared by the bench (RSS per key, case 12) and
// the unit test of the accounting (test/unit/key-budget.test.ts).
import type { KeyedRecord } from '../aggregator/state/state';

export const SPRAY_KINDS = ['ipv4', 'ipv6', 'long-credentials', 'credential-many-ips', 'long-windows'] as const;
export type SprayKind = (typeof SPRAY_KINDS)[number];

const T0 = 1_700_000_000_000 - (1_700_000_000_000 % 60_000);
const BATCH = 1000;

const ipv4 = (k: number) => `${10 + ((k >>> 24) & 63)}.${(k >>> 16) & 255}.${(k >>> 8) & 255}.${k & 255}`;
const ipv6 = (k: number) => `2001:db8:${((k >>> 16) & 0xffff).toString(16)}:${(k & 0xffff).toString(16)}::/64`;
/** 256 characters (STRING_MAX), distinct per k */
const longCredential = (k: number) => `${k.toString(36)}-`.padEnd(256, 'x');

/** Batches of the spray `kind` for a state of `maxKeys` keys (ts ascending; for an event clock). */
export function* spray(kind: SprayKind, maxKeys: number): Generator<KeyedRecord[]> {
  let batch: KeyedRecord[] = [];
  const out = function* (r: KeyedRecord): Generator<KeyedRecord[]> {
    batch.push(r);
    if (batch.length >= BATCH) {
      yield batch;
      batch = [];
    }
  };
  const service = 'orders';
  switch (kind) {
    case 'ipv4':
    case 'ipv6': {
      // 3x the cap, each key in two sub-buckets (held inline), some failing
      const ip = kind === 'ipv4' ? ipv4 : ipv6;
      for (let k = 0; k < 3 * maxKeys; k++) {
        const ts = T0 + Math.floor(k / 1000);
        yield* out({ ts, ipKey: ip(k), status: 200, service });
        yield* out({ ts: ts + 30_000, ipKey: ip(k), status: k % 3 === 0 ? 401 : 200, service });
      }
      break;
    }
    case 'long-credentials':
      // 3x the cap of distinct 256-character credentials, from a few IPs
      for (let k = 0; k < 3 * maxKeys; k++)
        yield* out({ ts: T0 + Math.floor(k / 1000), ipKey: ipv4(k % 64), status: 200, service, credential: longCredential(k) });
      break;
    case 'credential-many-ips':
      // credentials each seen from 100 distinct IPv6 /64s (SIEM_CREDENTIAL_MAX_IPS)
      for (let c = 0; c < Math.ceil(maxKeys / 20); c++) {
        for (let j = 0; j < 100; j++) yield* out({ ts: T0 + c, ipKey: ipv6(c * 100 + j), status: 200, service, credential: `shared-${c}` });
      }
      break;
    case 'long-windows': {
      // IPs with a record in each of 120 sub-buckets (the default settings' 360 s of history)
      const ips = Math.ceil(maxKeys / 10);
      for (let b = 0; b < 120; b++)
        for (let k = 0; k < ips; k++)
          yield* out({ ts: T0 + b * 3000 + Math.floor(k / 1000), ipKey: ipv4(k), status: k % 2 ? 500 : 200, service });
      break;
    }
  }
  if (batch.length > 0) yield batch;
}
