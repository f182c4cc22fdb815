// The findings cut at SIEM_MAX_FINDINGS (aggregator/state/findings-cut.ts):
// each type keeps up to an equal share, the strongest of the rest fill the
// places left. Red team 2: ranked by count alone, one type's findings
// emptied the others (a credential's few IPs against error_ip's failures).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { fairCut, FindingsCut, typeShare } from '../../aggregator/state/findings-cut';
import { compareFindings, FINDING_TYPES, type Finding } from '../../aggregator/rules/registry';

const errorIp = (i: number, count: number): Finding => ({
  type: 'error_ip',
  service: 'orders',
  ip: `2001:db8:77:${i.toString(16)}::/64`,
  count,
  ratio: 1,
  since: 0,
  window: 'long',
});
const credential = (name: string, count: number): Finding => ({
  type: 'credential_ips',
  service: 'orders',
  credential: name,
  count,
  ips: [],
  since: 0,
});

function cutOf(findings: readonly Finding[], max: number): Finding[] {
  const cut = new FindingsCut(max);
  for (const f of findings) cut.push(f);
  return cut.take();
}

test('1000 strong error_ip findings leave the one credential_ips finding its place', () => {
  const flood = Array.from({ length: 1000 }, (_, i) => errorIp(i, 21 + (i % 7)));
  const kept = cutOf([...flood, credential('victim', 5)], 1000);
  assert.equal(kept.length, 1000);
  assert.deepEqual(
    kept.filter((f) => f.type === 'credential_ips').map((f) => f.count),
    [5],
  );
  // the error_ip findings kept are the 999 strongest, all in compareFindings order
  assert.deepEqual(kept.slice(0, 999), [...flood].sort(compareFindings).slice(0, 999));
});

test('a type with fewer findings than its share gives the rest of it to the others; under one place a type, strongest first', () => {
  assert.equal(typeShare(1000), 1000 / FINDING_TYPES.length);
  const flood = Array.from({ length: 2000 }, (_, i) => errorIp(i, 30 + (i % 11)));
  const creds = ['a', 'b', 'c'].map((c) => credential(c, 4));
  const kept = cutOf([...creds, ...flood], 1000);
  assert.equal(kept.filter((f) => f.type === 'credential_ips').length, 3);
  assert.equal(kept.filter((f) => f.type === 'error_ip').length, 997);
  // max 3 < 5 types: no share, the strongest 3
  assert.deepEqual(cutOf([...creds, ...flood], 3), [...flood].sort(compareFindings).slice(0, 3));
});

test('property: FindingsCut fed one at a time equals fairCut of full sorted lists, and equals a restatement by ranks', () => {
  const types = ['error_ip', 'credential_ips', 'flood_ip'] as const;
  const arb = fc.array(
    fc.record({ t: fc.constantFrom(...types), count: fc.integer({ min: 1, max: 6 }), id: fc.integer({ min: 0, max: 40 }) }),
    {
      maxLength: 80,
    },
  );
  fc.assert(
    fc.property(arb, fc.integer({ min: 0, max: 30 }), (raw, max) => {
      const uniq = new Map<string, Finding>();
      for (const r of raw) {
        const f: Finding =
          r.t === 'credential_ips'
            ? credential(`c${r.id}`, r.count)
            : r.t === 'error_ip'
              ? errorIp(r.id, r.count)
              : { type: 'flood_ip', service: 'orders', ip: `10.0.0.${r.id}`, count: r.count, ratio: 1, since: 0 };
        uniq.set(`${f.type}|${'ip' in f ? f.ip : f.credential}`, f);
      }
      const all = [...uniq.values()].sort(compareFindings);
      const got = cutOf([...uniq.values()], max);
      const byType = FINDING_TYPES.map((t) => all.filter((f) => f.type === t));
      assert.deepEqual(got, fairCut(byType, max));
      // restated: a finding is kept when it is within its type's share, or among the first of the others for the places left
      const share = typeShare(max);
      const rank = new Map(all.map((f) => [f, byType.find((l) => l.includes(f))?.indexOf(f) ?? -1]));
      const inShare = all.filter((f) => (rank.get(f) as number) < share);
      const others = all.filter((f) => (rank.get(f) as number) >= share);
      const want = new Set([...inShare, ...others.slice(0, Math.max(0, max - inShare.length))]);
      assert.deepEqual(
        got,
        all.filter((f) => want.has(f)),
      );
      assert.ok(got.length === Math.min(max, all.length));
    }),
    { numRuns: 300 },
  );
});
