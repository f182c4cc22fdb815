// The pre-encoded answers of the decision endpoints: the bytes written per
// pull (durations straight into a buffer, copies of encoded entries) must be
// exactly what JSON.stringify of the wire objects gives, whichever path an
// answer takes (the whole-set copy or the few-entries join), and a new
// version must re-encode only what changed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatDuration, writeDuration, MAX_DURATION_BYTES } from '../../aggregator/decisions/duration';
import { ActiveSet } from '../../aggregator/decisions/active-set';
import { toWire, type StoredDecision } from '../../aggregator/decisions/model';
import { parseTarget, targetOf } from '../../aggregator/decisions/policy';

test('writeDuration writes the bytes formatDuration prints, within MAX_DURATION_BYTES', () => {
  const buf = Buffer.alloc(64);
  const check = (ms: number) => {
    const end = writeDuration(buf, 3, ms);
    assert.equal(buf.toString('latin1', 3, end), formatDuration(ms), String(ms));
    assert.ok(end - 3 <= MAX_DURATION_BYTES);
  };
  for (const ms of [
    -5,
    0,
    0.4,
    1,
    9,
    10,
    999,
    1000,
    1001,
    1010,
    1100,
    1050,
    1005,
    59_999,
    60_000,
    61_500,
    3_600_000,
    3_600_001,
    14_399_999,
    Number.MAX_SAFE_INTEGER,
  ])
    check(ms);
  fc.assert(
    fc.property(fc.integer({ min: -10, max: Number.MAX_SAFE_INTEGER }), (ms) => check(ms)),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 100 * 3_600_000 }), (ms) => check(ms)),
    { numRuns: 2000 },
  );
});

function decision(id: number, now: number, over: Partial<StoredDecision> = {}): StoredDecision {
  const range = id % 5 === 0;
  return {
    id,
    origin: id % 7 === 0 ? 'manual' : 'kong-siem',
    scenario: id % 7 === 0 ? 'kong-siem/manual' : 'kong-siem/error_ip',
    scope: range ? 'Range' : 'Ip',
    value: range ? `2001:db8:${id.toString(16)}::/64` : `10.0.${(id >> 8) & 255}.${id & 255}`,
    until: now + 1000 + ((id * 7919) % 4_000_000),
    created: now - id,
    issuedUntil: now,
    durationMs: 4 * 3_600_000,
    strength: id,
    evidence: id % 7 === 0 ? [] : [{ type: 'error_ip', service: `svc "é" ${id % 3}`, count: 20 + id, ratio: 0.5, since: now - 10 }],
    ...(id % 3 === 0 ? { reason: `why ${id} ✓` } : {}),
    ...over,
  };
}

const expected = (ds: StoredDecision[], now: number, admin: boolean) =>
  ds.map((d) => ({
    ...toWire(d, now),
    ...(admin ? { until: d.until, created: d.created, ...(d.reason ? { reason: d.reason } : {}), evidence: d.evidence } : {}),
  }));

test('an active set renders exactly the wire objects, for every selection, on both paths', () => {
  const now = 1_700_000_000_000;
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.integer({ min: 1, max: 400 }), { minLength: 0, maxLength: 60 }),
      fc.array(fc.boolean(), { minLength: 60, maxLength: 60 }),
      fc.boolean(),
      (ids, keep, admin) => {
        // out of id order, as a store may hand them out
        const ds = ids.map((id) => decision(id, now));
        const set = new ActiveSet(1, ds);
        const sorted = [...ds].sort((a, b) => a.id - b.id);
        assert.deepEqual(
          set.entries.map((e) => e.d.id),
          sorted.map((d) => d.id),
        );
        const idx = sorted.map((_, i) => i).filter((i) => keep[i]);
        const body = set.render(idx, now, { admin, prefix: '{"new":', suffix: ',"x":1}' });
        const want = expected(
          idx.map((i) => sorted[i] as StoredDecision),
          now,
          admin,
        );
        assert.deepEqual(JSON.parse(body.toString('utf8')), { new: want, x: 1 });
        // and after the whole set was encoded once (the other path), the same bytes
        set.render(
          sorted.map((_, i) => i),
          now,
          { admin },
        );
        assert.deepEqual(set.render(idx, now, { admin, prefix: '{"new":', suffix: ',"x":1}' }), body);
      },
    ),
    { numRuns: 300 },
  );
});

test('pick: by time left, scope, position and sequence number, in id order', () => {
  const now = 1_700_000_000_000;
  const ds = [
    decision(3, now, { until: now + 999 }),
    decision(1, now, { until: now + 1000 }),
    decision(5, now),
    decision(10, now, { until: now }),
    decision(8, now),
  ];
  const set = new ActiveSet(1, ds);
  const ids = (idx: number[]) => idx.map((i) => set.entries[i]?.d.id);
  assert.deepEqual(ids(set.pick({ now, minLeft: 1000, scope: () => true })), [1, 5, 8]);
  assert.deepEqual(ids(set.pick({ now, minLeft: 0, scope: () => true })), [1, 3, 5, 8]);
  assert.deepEqual(ids(set.pick({ now, minLeft: 0, scope: (s) => s === 'Range' })), [5]);
  assert.deepEqual(ids(set.pick({ now, minLeft: 0, scope: () => true, after: 3, upTo: 5 })), [5]);
});

test('a new version re-encodes only the decisions that changed', () => {
  const now = 1_700_000_000_000;
  const ds = Array.from({ length: 50 }, (_, i) => decision(i + 1, now));
  const v1 = new ActiveSet(1, ds);
  const changed = { ...(ds[10] as StoredDecision), until: now + 5_000_000 };
  const v2 = new ActiveSet(2, [...ds.slice(0, 10), changed, ...ds.slice(11)]);
  v2.entries.forEach((e, i) => (i === 10 ? assert.notEqual(e, v1.entries[i]) : assert.equal(e, v1.entries[i])));
  assert.match(v2.render([10], now).toString(), /"duration":"1h23m20s"/);
});

test('covering (live ?ip= and range= lookups) equals a comparison with every decision, ranges of any length in both families', () => {
  const now = 1_700_000_000_000;
  const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((b) => b.join('.'));
  // few distinct groups, so that lookups hit: 2001:db8:0-3:0-3::x
  const v6 = fc.tuple(fc.nat(3), fc.nat(3), fc.nat(0xffff)).map(([a, b, c]) => `2001:db8:${a}:${b}::${c.toString(16)}`);
  const target = fc.oneof(
    v4,
    v6,
    fc.tuple(v4, fc.constantFrom(0, 8, 16, 24, 30, 32)).map(([a, l]) => `${a}/${l}`),
    fc.tuple(v6, fc.constantFrom(32, 48, 56, 64, 96, 128)).map(([a, l]) => `${a}/${l}`),
  );
  fc.assert(
    fc.property(fc.array(target, { minLength: 1, maxLength: 60 }), fc.array(target, { minLength: 1, maxLength: 20 }), (values, queries) => {
      const ds = values.flatMap((v, i) => {
        const t = targetOf(v);
        return t ? [decision(i + 1, now, { value: t.value, scope: t.scope, until: i % 9 === 0 ? now - 1 : now + 60_000 })] : [];
      });
      const set = new ActiveSet(1, ds);
      for (const q of queries) {
        const t = parseTarget(q);
        assert.ok(t, q);
        for (const contains of [true, false]) {
          const want: number[] = ds
            .map((d, i) => ({ d, i, n: parseTarget(d.value) }))
            .filter(({ d, n }) => d.until > now && n !== undefined && n[0].kind() === t[0].kind())
            .filter(({ n }) =>
              contains ? n![1] <= t[1] && t[0].match(n![0] as never, n![1]) : t[1] <= n![1] && n![0].match(t[0] as never, t[1]),
            )
            .map(({ i }) => i);
          assert.deepEqual(set.covering(t, targetOf(q)?.value, contains, now), want, `${q} contains=${contains}`);
        }
      }
    }),
    { numRuns: 300 },
  );
});
