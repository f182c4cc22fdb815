// StateOptions.memoryEviction 'count-after-batch': the memory backend evicts
// as Redis does (redis/evict.ts), so the differential test can compare the
// two at a small SIEM_MAX_KEYS. A batch passing the cap is counted whole;
// after it the least recently touched keys go, a record's IP key before its
// credential. The product's default ('bytes') evicts at the record instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createClock } from '../../aggregator/clock';
import { MemoryState } from '../../aggregator/state/memory/state';
import type { SnapshotEntry, StateOptions } from '../../aggregator/state/state';
import { DEFAULT_SETTINGS } from '../../common/settings';
import { rec } from '../helpers/records';

const T0 = 1_717_799_280_000;

function memory(memoryEviction: StateOptions['memoryEviction']) {
  const evicted: string[] = [];
  const state = new MemoryState({
    clock: createClock('event'),
    defaults: DEFAULT_SETTINGS,
    maxKeys: 2,
    maxServices: 10,
    maxFindings: 1000,
    credentialMaxIps: 100,
    onEvict: (table) => evicted.push(table),
    memoryEviction,
  });
  return { state, evicted };
}

/** The keys held, as `ip:<key>` / `credential:<key>`, sorted. */
function held(s: MemoryState): string[] {
  const entries: SnapshotEntry[] = [];
  const exp = s.beginExport(T0 + 60_000);
  while (exp.step(100, (e) => entries.push(structuredClone(e))));
  return entries.map((e) => `${e[0]}:${e[2]}`).sort();
}

test('count-after-batch: a batch over the cap is applied whole, then the oldest go (IP key before its credential)', async () => {
  const { state, evicted } = memory('count-after-batch');
  // one batch touching 4 keys at a cap of 2: 10.0.0.1 and k1 (same record), then 10.0.0.2, then 10.0.0.1 again
  const r = await state.apply([rec(T0, '10.0.0.1', 401, 'a', 'k1'), rec(T0 + 1, '10.0.0.2', 401, 'a'), rec(T0 + 2, '10.0.0.1', 401, 'a')]);
  assert.equal(r.accepted, 3);
  assert.deepEqual(evicted, ['credential'], 'k1 (touched at T0) went; 10.0.0.1 was touched again in the batch');
  assert.deepEqual(held(state), ['ip:10.0.0.1', 'ip:10.0.0.2']);
  const top = await state.top('a', 'requests', 5);
  assert.deepEqual(
    top.items.map((x) => [x.ip, x.count]),
    [
      ['10.0.0.1', 2],
      ['10.0.0.2', 1],
    ],
    'both records of 10.0.0.1 counted: it was not evicted and restarted within the batch',
  );
  // at equal times the IP key goes before the credential, as on Redis
  await state.apply([rec(T0 + 3, '10.0.0.3', 200, 'a', 'k2')]);
  assert.deepEqual(evicted, ['credential', 'ip', 'ip']);
  assert.deepEqual(held(state), ['credential:k2', 'ip:10.0.0.3']);
  await state.apply([rec(T0 + 4, '10.0.0.4', 200, 'a')]);
  assert.deepEqual(held(state), ['credential:k2', 'ip:10.0.0.4'], '10.0.0.3 went first: k2 was touched after it in the same record');
});

test('the default (bytes) evicts at the record: the same batch restarts 10.0.0.1', async () => {
  const { state, evicted } = memory(undefined);
  await state.apply([rec(T0, '10.0.0.1', 401, 'a', 'k1'), rec(T0 + 1, '10.0.0.2', 401, 'a'), rec(T0 + 2, '10.0.0.1', 401, 'a')]);
  assert.ok(evicted.length >= 2, `evicted during the batch (${evicted.join(', ')})`);
  const top = await state.top('a', 'requests', 5);
  assert.deepEqual(
    top.items.find((x) => x.ip === '10.0.0.1')?.count,
    1,
    'evicted by 10.0.0.2 within the batch, 10.0.0.1 starts over at its second record',
  );
});
