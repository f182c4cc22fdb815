// Issue 13, "Memory bounded by bytes": whatever the traffic, the in-memory
// state holds at most BYTES_PER_KEY * SIEM_MAX_KEYS accounted bytes and
// SIEM_MAX_KEYS keys. Each spray of bench/key-sprays.ts (IPv4, IPv6, long
// credentials, a credential from many IPs, IPs across long windows) is fed
// to a small state; after every batch the accounted size is within the
// budget, and at the end it equals the weights recomputed from what the
// state holds (its snapshot export), so no remembered credential-IP pair or
// spilled sub-bucket escapes the account. RSS per key is measured in
// `npm run bench` (case 12), not here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClock } from '../../aggregator/clock';
import { MemoryState } from '../../aggregator/state/memory/state';
import { ipv4Number } from '../../aggregator/state/memory/ipv4';
import {
  BYTES_PER_KEY,
  CREDENTIAL_BYTES,
  CREDENTIAL_IP_BYTES,
  IP_KEY_BYTES,
  SPILL_BYTES,
  SPILL_ENTRY_BYTES,
  stringBytes,
} from '../../aggregator/state/memory/key-budget';
import type { SnapshotEntry } from '../../aggregator/state/state';
import { DEFAULT_SETTINGS } from '../../common/settings';
import { spray, SPRAY_KINDS } from '../../bench/key-sprays';
import { STRIDE } from '../../aggregator/window';

const MAX_KEYS = 2000;
/** sub-buckets an IP key holds in its slot before its history spills */
const INLINE = 2;

/** The weight of every key held, recomputed from the snapshot export (service id 0). */
function recomputed(s: MemoryState, now: number): number {
  let bytes = 0;
  const entries: SnapshotEntry[] = [];
  const ex = s.beginExport(now);
  while (ex.step(10_000, (e) => entries.push(structuredClone(e))));
  for (const e of entries) {
    if (e[0] === 'ip') {
      const ip = e[2];
      bytes += IP_KEY_BYTES + (ipv4Number(ip) >= 0 ? 0 : stringBytes(`0|${ip}`));
      const entries = e[4].length / STRIDE;
      if (entries > INLINE) bytes += SPILL_BYTES + entries * SPILL_ENTRY_BYTES;
    } else {
      bytes += CREDENTIAL_BYTES + stringBytes(`0#${e[2]}`) + stringBytes(e[2]);
      for (const [ip] of e[4]) bytes += CREDENTIAL_IP_BYTES + stringBytes(ip);
    }
  }
  return bytes;
}

for (const kind of SPRAY_KINDS) {
  test(`byte budget holds under the ${kind} spray: accounted bytes <= ${BYTES_PER_KEY} * SIEM_MAX_KEYS after every batch, and true to what is held`, async () => {
    let evicted = 0;
    const clock = createClock('event');
    const s = new MemoryState({
      clock,
      defaults: DEFAULT_SETTINGS,
      maxKeys: MAX_KEYS,
      maxServices: 10,
      maxFindings: 1000,
      credentialMaxIps: 100,
      onEvict: () => evicted++,
    });
    assert.equal(s.budgetBytes, BYTES_PER_KEY * MAX_KEYS);
    let most = 0;
    for (const batch of spray(kind, MAX_KEYS)) {
      await s.apply(batch);
      assert.ok(s.accountedBytes <= s.budgetBytes, `${s.accountedBytes} accounted bytes over the budget of ${s.budgetBytes}`);
      assert.ok(s.trackedKeys <= MAX_KEYS);
      most = Math.max(most, s.accountedBytes);
    }
    assert.ok(evicted > 0, 'the spray went past the cap');
    // the budget is used, not left idle: either the keys or the bytes are at their cap
    assert.ok(s.trackedKeys === MAX_KEYS || most > 0.9 * s.budgetBytes, `${s.trackedKeys} keys, at most ${most} bytes`);
    assert.equal(s.accountedBytes, recomputed(s, clock.now()), 'accounted bytes = the weights of the keys held');
  });
}

test('a credential meeting new IPs grows its weight and evicts older keys; its expiry gives the bytes back', async () => {
  const clock = createClock('event');
  const s = new MemoryState({ clock, defaults: DEFAULT_SETTINGS, maxKeys: 100, maxServices: 10, maxFindings: 1000, credentialMaxIps: 100 });
  const T0 = 1_700_000_000_000;
  await s.apply(Array.from({ length: 50 }, (_, i) => ({ ts: T0, ipKey: `10.0.0.${i}`, status: 200, service: 'orders' })));
  const keysBefore = s.trackedKeys;
  assert.equal(keysBefore, 50);
  // one credential from 100 IPv6 /64s: 100 IP keys and 100 remembered pairs
  await s.apply(
    Array.from({ length: 100 }, (_, i) => ({
      ts: T0 + 1,
      ipKey: `2001:db8:${i.toString(16)}::/64`,
      status: 200,
      service: 'orders',
      credential: 'shared',
    })),
  );
  assert.ok(s.accountedBytes <= s.budgetBytes);
  assert.ok(s.trackedKeys < 100, `${s.trackedKeys} keys: the pairs took the room of some`);
  assert.equal(s.accountedBytes, recomputed(s, clock.now()));
  // all expire: the sweep gives every byte back (the clock moved in steps within the allowed skew)
  for (let k = 1; k <= 4; k++) await s.apply([{ ts: T0 + k * 200_000, ipKey: '10.9.9.9', status: 200, service: 'orders' }]);
  await s.sweep();
  assert.equal(s.trackedKeys, 1);
  assert.equal(s.accountedBytes, IP_KEY_BYTES);
});
