// Bench case 1's keyed floor (bench/baseline-server.ts) does the work it
// stands for: every record's IP and credential found and counted, IPv4 in
// its table and the rest in Maps, one key per (service, entity), IPv6 by
// its /64 as the aggregator keys it. A floor
// that skipped them would make the case's figure look better than it is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startChild } from '../../bench/servers';
import { OUT_DIR } from '../helpers/paths';

async function keysAfter(keyed: boolean, records: object[]): Promise<{ records: number; keys: number }> {
  const s = await startChild('baseline', OUT_DIR, 0, keyed ? { SIEM_BENCH_KEYED: '1' } : {});
  try {
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${s.url}/v1/records`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ records }),
      });
      assert.equal(res.status, 202);
    }
    return (await (await fetch(`${s.url}/count`)).json()) as { records: number; keys: number };
  } finally {
    await s.stop();
  }
}

const records = [
  { service: 'a', ip: '10.0.0.1', credential: 'k1' },
  { service: 'a', ip: '10.0.0.1' },
  { service: 'b', ip: '10.0.0.1', credential: 'k1' },
  { service: 'a', ip: '10.0.1.0' },
  { service: 'a', ip: '0.0.0.0' },
  { service: 'a', ip: '2001:db8::1', credential: 'k2' },
  { service: 'a', ip: '2001:db8::2', credential: 'k1' },
];

test('the keyed floor holds one key per (service, IP) and (service, credential), posted twice', async () => {
  // IPs: a|10.0.0.1, b|10.0.0.1, a|10.0.1.0, a|0.0.0.0, a|2001:db8::/64 (both IPv6 addresses: one /64, as the aggregator keys them); credentials: a#k1, b#k1, a#k2
  assert.deepEqual(await keysAfter(true, records), { records: 14, keys: 8 });
});

test('the ceiling keys nothing', async () => {
  assert.deepEqual(await keysAfter(false, records), { records: 14, keys: 0 });
});
