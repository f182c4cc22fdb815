// Stream positions per bouncer key and address (aggregator/decisions/streams.ts):
// the tombstone floor over every stream of the configured keys, and the
// positions forgotten (a key's alone from earlier releases, the stalest
// beyond the cap).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planStreams, STREAMS_PER_KEY, streamOf } from '../../aggregator/decisions/streams';
import { MemoryDecisionRepo } from '../../aggregator/decisions/repo';

test('planStreams: the floor is the lowest stream of the configured keys; 0 while one has none', () => {
  const pos: [string, number][] = [
    [streamOf('aaaa0001', '127.0.0.2'), 40],
    [streamOf('aaaa0001', '127.0.0.3'), 12],
    [streamOf('bbbb0002', '::1'), 30],
    [streamOf('cccc0003', '10.0.0.1'), 1], // a key no longer configured: not in the floor
  ];
  assert.deepEqual(planStreams(pos, ['aaaa0001', 'bbbb0002']), { floor: 12, drop: [] });
  assert.deepEqual(planStreams(pos, ['aaaa0001', 'dddd0004']), { floor: 0, drop: [] });
  assert.deepEqual(planStreams(pos, []), { floor: undefined, drop: [] });
  // a position of the key alone (earlier releases) is forgotten, never a floor
  assert.deepEqual(planStreams([['aaaa0001', 3], ...pos], ['aaaa0001']), { floor: 12, drop: ['aaaa0001'] });
});

test('planStreams: beyond the cap per key the stalest streams go, and no longer hold the floor', () => {
  const pos: [string, number][] = Array.from({ length: 6 }, (_, i) => [streamOf('aaaa0001', `127.0.0.${i + 2}`), 10 * (i + 1)]);
  const plan = planStreams(pos, ['aaaa0001'], 4);
  assert.deepEqual(plan.drop.sort(), [streamOf('aaaa0001', '127.0.0.2'), streamOf('aaaa0001', '127.0.0.3')]);
  assert.equal(plan.floor, 30);
});

test('memory repo: positions per stream, last pull per key, pruned streams forgotten', async () => {
  const repo = new MemoryDecisionRepo();
  await repo.pulled(streamOf('aaaa0001', '127.0.0.2'), 'aaaa0001', 5, 1000);
  await repo.pulled(streamOf('aaaa0001', '127.0.0.3'), 'aaaa0001', 7, 2000);
  assert.equal(await repo.position(streamOf('aaaa0001', '127.0.0.2')), 5);
  assert.equal(await repo.position(streamOf('aaaa0001', '127.0.0.4')), undefined);
  assert.deepEqual([...(await repo.lastPulls())], [['aaaa0001', 2000]]);
  repo.restore({ ...repo.snapshot(), positions: [...repo.snapshot().positions, ['aaaa0001', 1]] });
  await repo.prune(['aaaa0001'], 10);
  assert.deepEqual(
    repo
      .snapshot()
      .positions.map(([s]) => s)
      .sort(),
    [streamOf('aaaa0001', '127.0.0.2'), streamOf('aaaa0001', '127.0.0.3')],
  );
});

test('memory repo: a key pulling from more addresses than the cap keeps at most the cap between rounds (review 3)', async () => {
  const repo = new MemoryDecisionRepo();
  await repo.pulled(streamOf('bbbb0002', '127.0.0.9'), 'bbbb0002', 1, 1000);
  for (let i = 0; i < STREAMS_PER_KEY + 44; i++)
    await repo.pulled(streamOf('aaaa0001', `127.1.${i >> 7}.${i & 127}`), 'aaaa0001', i + 2, 1000);
  const held = repo.snapshot().positions.map(([s]) => s);
  // before: 300 positions of aaaa0001 until the next reconcile round pruned them
  assert.equal(held.filter((s) => s.startsWith('aaaa0001@')).length, STREAMS_PER_KEY);
  assert.ok(held.includes(streamOf('bbbb0002', '127.0.0.9')), 'another key keeps its streams');
  // the newest stay: the last address's position is still there
  assert.equal(
    await repo.position(streamOf('aaaa0001', `127.1.${(STREAMS_PER_KEY + 43) >> 7}.${(STREAMS_PER_KEY + 43) & 127}`)),
    STREAMS_PER_KEY + 45,
  );
});
