// The change log: a reader brings its active set forward by the ids changed
// since its version, or reads the whole set when the log was trimmed past it
// (or the store is another one). A set brought forward must be the set built
// from scratch: same entries, same bytes in both flavours, same lookups.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ActiveSet } from '../../aggregator/decisions/active-set';
import { MemoryDecisionRepo } from '../../aggregator/decisions/repo';
import { DecisionService } from '../../aggregator/decisions/service';
import { noChanges } from '../../aggregator/decisions/reconcile';
import { parseTarget } from '../../aggregator/decisions/policy';
import type { StoredDecision } from '../../aggregator/decisions/model';
import { LOG_T0, alternatingPulls, countReads, logConfig } from '../helpers/decision-log';

const NOW = 1_700_000_000_000;

function decision(id: number, v: number, over: Partial<StoredDecision> = {}): StoredDecision {
  const range = id % 4 === 0;
  return {
    id,
    origin: id % 5 === 0 ? 'manual' : 'kong-siem',
    scenario: id % 5 === 0 ? 'kong-siem/manual' : 'kong-siem/error_ip',
    scope: range ? 'Range' : 'Ip',
    value: range ? `2001:db8:${id.toString(16)}::/64` : `10.0.${(id >> 8) & 255}.${id & 255}`,
    until: NOW + 1000 + ((id * 7919 + v * 104_729) % 4_000_000),
    created: NOW - id,
    issuedUntil: NOW,
    durationMs: 4 * 3_600_000,
    strength: (id * 31 + v) % 97,
    evidence: [{ type: 'error_ip', service: `svc "é" ${v}`, count: 20 + v, since: NOW - 10 }],
    ...over,
  };
}

const all = (s: ActiveSet) => s.pick({ now: NOW, minLeft: 0, scope: () => true });

test('a set brought forward by deltas equals the set built from scratch (bytes, lookups, weakest)', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          remove: fc.array(fc.nat(60), { maxLength: 8 }),
          update: fc.array(fc.nat(60), { maxLength: 5 }),
          add: fc.nat(6),
          render: fc.constantFrom('none', 'wire', 'admin', 'both'),
        }),
        { minLength: 1, maxLength: 12 },
      ),
      (steps) => {
        const live = new Map<number, StoredDecision>();
        let nextId = 1;
        for (let i = 0; i < 30; i++, nextId++) live.set(nextId, decision(nextId, 0));
        let set = new ActiveSet(1, [...live.values()], { epoch: 'e' });
        steps.forEach((s, k) => {
          if (s.render === 'wire' || s.render === 'both') set.render(all(set), NOW);
          if (s.render === 'admin' || s.render === 'both') set.render(all(set), NOW, { admin: true });
          const removed = [...new Set(s.remove)].filter((id) => live.delete(id));
          const upserts: StoredDecision[] = [];
          for (const id of new Set(s.update)) {
            if (!live.has(id)) continue;
            const d = decision(id, k + 1);
            live.set(id, d);
            upserts.push(d);
          }
          for (let a = 0; a < s.add; a++, nextId++) {
            const d = decision(nextId, k + 1);
            live.set(nextId, d);
            upserts.push(d);
          }
          set = set.next({ version: k + 2, epoch: 'e', upserts, removed });
          const fresh = new ActiveSet(k + 2, [...live.values()].reverse());
          assert.deepEqual(
            set.entries.map((e) => e.d),
            fresh.entries.map((e) => e.d),
          );
          for (const admin of [false, true]) {
            assert.deepEqual(set.render(all(set), NOW, { admin }), fresh.render(all(fresh), NOW, { admin }));
            const some = all(set).filter((i) => i % 3 === 0);
            assert.deepEqual(set.render(some, NOW, { admin }), fresh.render(some, NOW, { admin }));
          }
          const probe = parseTarget('2001:db8:8::5') as NonNullable<ReturnType<typeof parseTarget>>;
          assert.deepEqual(set.covering(probe, '2001:db8:8::5', true, NOW), fresh.covering(probe, '2001:db8:8::5', true, NOW));
          assert.equal(set.weakestAutomatic(NOW, -1), fresh.weakestAutomatic(NOW, -1));
          assert.equal(set.alive(NOW + 2_000_000), fresh.alive(NOW + 2_000_000));
          for (const d of live.values())
            assert.equal(set.entries[set.indexOfValue(d.value, d.scope === 'Range', NOW)]?.d, d.until > NOW ? d : undefined);
        });
      },
    ),
    { numRuns: 150 },
  );
});

test('memory change log: the ids changed since a version; the whole set when trimmed past it, after a restore, or for another store', async () => {
  const repo = new MemoryDecisionRepo(4);
  const add = (value: string) => {
    const c = noChanges();
    c.add.push({ ...decision(0, 0), value });
    return repo.apply(c);
  };
  const first = await repo.changes(undefined);
  assert.deepEqual(first.full, []);
  const [a] = await add('10.1.0.1');
  const [b] = await add('10.1.0.2');
  const v2 = await repo.changes({ version: first.version, epoch: first.epoch });
  assert.equal(v2.full, undefined);
  assert.deepEqual(
    v2.upserts.map((d) => d.id).sort((x, y) => x - y),
    [(a as StoredDecision).id, (b as StoredDecision).id],
  );
  const c = noChanges();
  c.remove.push((a as StoredDecision).id);
  await repo.apply(c);
  const v3 = await repo.changes({ version: v2.version, epoch: v2.epoch });
  assert.deepEqual(v3.removed, [(a as StoredDecision).id]);
  assert.deepEqual(v3.upserts, []);
  // five more changes: the log keeps 4 ids, so v3 is behind its floor
  for (let i = 3; i < 8; i++) await add(`10.1.0.${i}`);
  const behind = await repo.changes({ version: v3.version, epoch: v3.epoch });
  assert.deepEqual(behind.full?.map((d) => d.value).sort(), ['10.1.0.2', '10.1.0.3', '10.1.0.4', '10.1.0.5', '10.1.0.6', '10.1.0.7']);
  const recent = await repo.changes({ version: behind.version - 2, epoch: behind.epoch });
  assert.deepEqual(recent.upserts.map((d) => d.value).sort(), ['10.1.0.6', '10.1.0.7']);
  assert.ok((await repo.changes({ version: behind.version, epoch: 'another store' })).full);
  assert.ok((await repo.changes({ version: behind.version + 1, epoch: behind.epoch })).full, 'a version ahead of the store');
  repo.restore(repo.snapshot());
  assert.ok((await repo.changes({ version: behind.version, epoch: behind.epoch })).full, 'after a restore');
});

test('memory store: a bouncer pulling from two services alternately holds the active set; trimmed logs resync whole', async () => {
  const repo = new MemoryDecisionRepo(8);
  const reads = countReads(repo);
  const clock = { now: LOG_T0 };
  const services = [0, 1].map(() => new DecisionService(repo, logConfig(12), () => clock.now));
  const stats = await alternatingPulls(services, clock, () => repo.active(), { rounds: 150, seed: 15 });
  // the scenario did change things, and both kinds of read happened
  assert.ok(stats.added > 40 && stats.deleted > 20, JSON.stringify(stats));
  assert.ok(reads.delta > 100 && reads.full > 5, JSON.stringify(reads));
});
