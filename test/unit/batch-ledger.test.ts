// The batch-id ledger behind idempotent ingest (issue 16, item 7): duplicate
// within 10 minutes, a retry that overtakes its original, release after a
// failed store, and memory bounded by SIEM_MAX_BATCH_IDS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BATCH_ID_TTL_MS, MemoryBatchLedger } from '../../aggregator/batch-ledger';

function ledger(maxIds = 100) {
  let now = 1_000_000;
  let evicted = 0;
  const l = new MemoryBatchLedger({ maxIds, now: () => now, onEvict: () => evicted++ });
  return { l, advance: (ms: number) => (now += ms), evicted: () => evicted };
}

test('an accepted id is a duplicate for 10 minutes, then new again', async () => {
  const { l, advance } = ledger();
  assert.equal(await l.claim('a'), 'new');
  await l.accept('a');
  assert.equal(await l.claim('a'), 'duplicate');
  advance(BATCH_ID_TTL_MS - 1);
  assert.equal(await l.claim('a'), 'duplicate');
  advance(2);
  assert.equal(await l.claim('a'), 'new');
  assert.equal(await l.claim('b'), 'new', 'another id is independent');
});

test('an id being stored is busy for a second claim; released after a failed store, it is new again', async () => {
  const { l } = ledger();
  assert.equal(await l.claim('a'), 'new');
  assert.equal(await l.claim('a'), 'busy');
  await l.release('a');
  assert.equal(await l.claim('a'), 'new');
  await l.accept('a');
  await l.release('a');
  assert.equal(await l.claim('a'), 'duplicate', 'release never forgets an accepted id');
});

test('ids are bounded by maxIds: the oldest go first and are counted, expired ones are not', async () => {
  const { l, advance, evicted } = ledger(3);
  for (const id of ['a', 'b', 'c']) {
    await l.claim(id);
    await l.accept(id);
  }
  await l.claim('d');
  await l.accept('d');
  assert.equal(l.size, 3);
  assert.equal(evicted(), 1);
  assert.equal(await l.claim('a'), 'new', 'the oldest lost its protection');
  assert.equal(evicted(), 2, 'taking its place evicted the next oldest');
  advance(BATCH_ID_TTL_MS + 1);
  for (const id of ['x', 'y', 'z']) await l.claim(id);
  assert.equal(l.size, 3);
  assert.equal(evicted(), 2, 'entries past their TTL make room without counting');
});
