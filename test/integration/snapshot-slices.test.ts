// Issue 13.7: a snapshot is saved in slices that yield to the event loop, so
// ingest goes on during a save (at 1M keys a save in one go stalled ingest
// 2.4-2.6 s, over the plugin's 2 s timeout). What the file holds when keys
// change during the save is stated in aggregator/state/memory/snapshot-export.ts;
// these tests hold the save to it. No timing is asserted: the order of events is.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { createClock } from '../../aggregator/clock';
import { MemoryState } from '../../aggregator/state/memory/state';
import { loadSnapshot, saveSnapshot } from '../../aggregator/state-file';
import type { KeyedRecord, SnapshotEntry } from '../../aggregator/state/state';
import { DEFAULT_SETTINGS } from '../../common/settings';
import { postJson, startAggregator } from '../helpers/aggregator';
import { rec } from '../helpers/records';
import { STRIDE } from '../../aggregator/window';

const T0 = 1_717_799_280_000;
const ip = (i: number) => `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`;

function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'siem-snapslices-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function memory(maxKeys: number, credentialMaxIps = 100) {
  const clock = createClock('event');
  let evicted = 0;
  const state = new MemoryState({
    clock,
    defaults: DEFAULT_SETTINGS,
    maxKeys,
    maxServices: 10,
    maxFindings: 1000,
    credentialMaxIps,
    onEvict: () => evicted++,
  });
  return { state, clock, evicted: () => evicted };
}

async function applyAll(state: MemoryState, records: KeyedRecord[]): Promise<number> {
  let accepted = 0;
  for (let i = 0; i < records.length; i += 5000) accepted += (await state.apply(records.slice(i, i + 5000))).accepted;
  return accepted;
}

function readSnapshot(file: string): { header: { clock: number }; entries: SnapshotEntry[] } {
  const [head, ...rest] = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
  return { header: JSON.parse(head as string), entries: rest.map((l) => JSON.parse(l) as SnapshotEntry) };
}

/** requests and failures of an IP entry's series */
function countsOf(e: SnapshotEntry): { requests: number; failures: number } {
  const s = e[4] as number[];
  let requests = 0;
  let failures = 0;
  for (let i = 0; i < s.length; i += STRIDE) {
    requests += s[i + 1] as number;
    failures += s[i + 2] as number;
  }
  return { requests, failures };
}

test('a save yields to the event loop; records ingested during it are counted and the file restores consistently', async (t) => {
  const N = 40_000;
  const CREDS_FROM = 30_000; // IPs from here on log in: one credential key per 10 IPs
  const { state, clock, evicted } = memory(N + (N - CREDS_FROM) / 10);
  const fill: KeyedRecord[] = [];
  for (let i = 0; i < N; i++) fill.push(rec(T0 + i, ip(i), 200, 'orders', i >= CREDS_FROM && i % 10 === 0 ? `user-${i}` : undefined));
  assert.equal(await applyAll(state, fill), N);
  const startClock = clock.now();
  const file = join(tmp(t), 'state.ndjson');

  let saved = false;
  const saving = saveSnapshot(state, file, () => clock.now()).then((r) => {
    saved = true;
    return r;
  });
  // a callback scheduled as the save starts runs before the save completes
  await nextTurn();
  assert.equal(saved, false, 'the save gave the event loop back before it was done');

  // ingest while the save runs: 11,000 keys touched with a failure, then 100
  // new keys, which evict the then least recently seen (10,000..10,099)
  const later = T0 + N + 1000;
  const during: KeyedRecord[] = [];
  for (let i = 0; i < 10_000; i++) during.push(rec(later, ip(i), 401));
  for (let i = 20_000; i < 21_000; i++) during.push(rec(later, ip(i), 401));
  for (let i = N; i < N + 100; i++) during.push(rec(later, ip(i), 200));
  assert.equal((await state.apply(during)).accepted, during.length, 'records ingested during the save are taken');
  assert.equal(evicted(), 100);
  assert.equal(saved, false, 'the save was still running while they were ingested');

  const result = await saving;
  assert.ok(result.slices > 1, 'the save spans several slices');
  const { header, entries } = readSnapshot(file);
  assert.equal(header.clock, later, "the header's clock is the save's end: no entry holds a record after it");
  assert.ok(startClock < later);
  assert.equal(entries.length, result.keys);

  const ips = new Map<string, SnapshotEntry>();
  let credentials = 0;
  for (const e of entries) {
    if (e[0] === 'credential') {
      credentials++;
      continue;
    }
    assert.ok(!ips.has(e[2]), `${e[2]} written once`);
    ips.set(e[2], e);
  }
  assert.equal(credentials, (N - CREDS_FROM) / 10, 'every credential key written');
  for (let i = 10_000; i < 10_100; i++) assert.ok(!ips.has(ip(i)), `${ip(i)}, evicted during the save, is left out`);
  const touched = (i: number) => i < 10_000 || (i >= 20_000 && i < 21_000);
  for (let i = 0; i < N; i++) {
    if (i >= 10_000 && i < 10_100) continue;
    const e = ips.get(ip(i));
    assert.ok(e, `${ip(i)} written`);
    // each key as it was when its slice serialized it: the failures ingested
    // before that are in it, and its newest ts with them
    assert.deepEqual(countsOf(e), touched(i) ? { requests: 2, failures: 1 } : { requests: 1, failures: 0 }, ip(i));
    assert.equal(e[3], touched(i) ? later : T0 + i, `${ip(i)} last seen`);
  }
  // keys created during the save: whichever are written are whole
  for (let i = N; i < N + 100; i++) {
    const e = ips.get(ip(i));
    if (e) assert.deepEqual(countsOf(e), { requests: 1, failures: 0 });
  }
  // least recently seen first: untouched keys in the order they were last seen
  const order = entries.filter((e) => e[0] === 'ip' && e[3] < later).map((e) => e[3]);
  assert.deepEqual(
    order,
    [...order].sort((a, b) => a - b),
  );

  // the file restores to the state it describes
  const b = memory(N * 2);
  const r = await loadSnapshot(b.state, file, (ts) => b.clock.observe(ts));
  assert.equal(r.status, 'restored');
  assert.equal(r.status === 'restored' && r.keys, entries.length);
  assert.equal(r.status === 'restored' && r.skipped, 0);
  // at the header's clock every entry counts: totals and top lists as written
  assert.equal(b.clock.now(), later);
  const g = (await b.state.gauges()).services.find((s) => s.service === 'orders');
  const fileRequests = [...ips.values()].reduce((n, e) => n + countsOf(e).requests, 0);
  assert.equal(g?.windowRequests, fileRequests);
  const topErrors = await b.state.top('orders', 'errors', 3);
  assert.equal(topErrors.items.length, 3);
  assert.ok(
    topErrors.items.every((x) => x.count === 1),
    JSON.stringify(topErrors.items),
  );
});

test('a save asked for while one runs (SIGTERM during a periodic save) writes a fresh one after it: keys ingested meanwhile are kept', async (t) => {
  const file = join(tmp(t), 'state.ndjson');
  const a = await startAggregator({ SIEM_CLOCK: 'event', SIEM_STATE_FILE: file });
  const N = 20_000;
  const fill: KeyedRecord[] = [];
  for (let i = 0; i < N; i++) fill.push(rec(T0 + i, ip(i), 200));
  assert.equal((await a.state.apply(fill)).accepted, N);

  const first = a.persistence.snapshot();
  const again = a.persistence.snapshot();
  assert.notEqual(again, first, 'a call during a save is a save of its own, after it');
  assert.equal(a.persistence.snapshot(), again, 'calls meanwhile share that one');
  // over HTTP while the first save runs
  const late = [];
  for (let i = N; i < N + 50; i++) late.push({ ts: T0 + N + 10, ip: ip(i), status: 401, service: 'orders' });
  assert.equal((await postJson(`${a.url}/v1/records`, { records: late })).body.accepted, 50);
  await first;
  await a.close(); // its final save waits for any save running, then writes
  const b = await startAggregator({ SIEM_CLOCK: 'event', SIEM_STATE_FILE: file });
  t.after(() => b.close());
  assert.equal((await b.state.gauges()).trackedKeys, N + 50);
  const top = await b.state.top('orders', 'errors', 100);
  assert.equal(top.items.length, 50, 'the records posted during the save were restored');
});

test("a line longer than a slice's buffer is written whole and in its place", async (t) => {
  // one credential used from 40,000 IPs: its line is about 1.2 MB
  const IPS = 40_000;
  // SIEM_MAX_KEYS is a byte budget (400 B a slot): room for 40,000 IPs and a
  // credential weighing 40,000 pairs, so nothing is evicted
  const { state, clock } = memory(4 * IPS, IPS);
  const records: KeyedRecord[] = [];
  for (let i = 0; i < IPS; i++) records.push(rec(T0 + i, ip(i), 200, 'orders', 'shared'));
  // seconds apart: the order is kept to within 1/65,536 of the longest window
  records.push(rec(T0 + IPS + 1000, '192.0.2.1', 200), rec(T0 + IPS + 2000, '192.0.2.2', 200));
  assert.equal(await applyAll(state, records), IPS + 2);
  const file = join(tmp(t), 'state.ndjson');
  const r = await saveSnapshot(state, file, () => clock.now());
  assert.equal(r.keys, IPS + 1 + 2);
  const { entries } = readSnapshot(file);
  assert.equal(entries.length, r.keys);
  const cred = entries.find((e) => e[0] === 'credential');
  assert.ok(cred && JSON.stringify(cred).length > 1 << 20, 'the credential line is over the buffer');
  assert.equal((cred[4] as unknown[]).length, IPS);
  // least recently seen first: the two IPs seen last come after the credential
  const at = (key: string) => entries.findIndex((e) => e[2] === key);
  assert.ok(at('shared') < at('192.0.2.1') && at('192.0.2.1') < at('192.0.2.2'));
  const b = memory(4 * IPS, IPS);
  const back = await loadSnapshot(b.state, file, (ts) => b.clock.observe(ts));
  assert.equal(back.status === 'restored' && back.keys, r.keys);
});
