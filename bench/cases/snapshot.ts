// Case 11: how long a state snapshot (SIEM_STATE_FILE) stalls the event loop
// at 1M keys (issue 13.7: a save serialized in one go stalled ingest
// 2.4-2.6 s, over the plugin's 2 s timeout, so batches were sent twice).
// Baseline, same run and same keys: every entry serialized in one go, which
// is what the save blocked before it was sliced (the old save also walked
// the LRU, slower still). A 1 ms timer measures the longest gap between its
// ticks during a save, quiet and with ingest going on.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, monitorEventLoopDelay, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { coreDeps } from '../core-state';
import { keyedRecord } from '../keyed';
import { ratioOf, type CaseOptions, type Row } from '../result';
import { prng } from '../traffic';
import { step } from '../progress';
import { saveSnapshot } from '../../aggregator/state-file';
import type { KeyedRecord, Snapshotting } from '../../aggregator/state/state';

const CASE = '11 snapshot';
export const TARGET_STALL_MS = 100;
/** one credential key per this many IP keys, each credential used from that many IPs */
const IPS_PER_CREDENTIAL = 4;
const INGEST_BATCH = 200;

/** Garbage collections while a measurement runs: the longest pause, their total, and how many were full (mark-compact). */
interface GcSeen {
  maxMs: number;
  totalMs: number;
  major: number;
  majorMaxMs: number;
}

const gcText = (g: GcSeen) =>
  `GC: longest pause ${g.maxMs.toFixed(1)} ms, ${g.major} full (longest ${g.majorMaxMs.toFixed(1)} ms), ${g.totalMs.toFixed(0)} ms in all`;

/** Longest gap between ticks of a 1 ms timer, gaps over the target, the event-loop delay histogram's max and the GC pauses, while `work` runs. */
async function stallDuring<T>(
  work: () => Promise<T>,
): Promise<{ result: T; maxGapMs: number; over: number; maxDelayMs: number; ms: number; gc: GcSeen }> {
  const gc: GcSeen = { maxMs: 0, totalMs: 0, major: 0, majorMaxMs: 0 };
  const seen = (list: { getEntries(): PerformanceEntry[] }) => {
    for (const e of list.getEntries()) {
      gc.maxMs = Math.max(gc.maxMs, e.duration);
      gc.totalMs += e.duration;
      if ((e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) {
        gc.major++;
        gc.majorMaxMs = Math.max(gc.majorMaxMs, e.duration);
      }
    }
  };
  const obs = new PerformanceObserver(seen);
  obs.observe({ entryTypes: ['gc'] });
  const h = monitorEventLoopDelay({ resolution: 1 });
  let last = performance.now();
  let maxGapMs = 0;
  let over = 0;
  const probe = setInterval(() => {
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    if (now - last >= TARGET_STALL_MS) over++;
    last = now;
  }, 1);
  h.enable();
  const t0 = performance.now();
  const result = await work();
  const ms = performance.now() - t0;
  h.disable();
  clearInterval(probe);
  maxGapMs = Math.max(maxGapMs, performance.now() - last);
  await sleep(1); // gc entries are delivered after a turn of the loop
  seen({ getEntries: () => obs.takeRecords() });
  obs.disconnect();
  return { result, maxGapMs, over, maxDelayMs: h.max / 1e6, ms, gc };
}

/**
 * What a perfect slicer would see on this machine: `ms` of CPU work in 10 ms
 * slices with a turn of the event loop between them (a busy machine
 * deschedules a process that computes, and a 10 ms slice then lasts longer).
 */
async function busySlices(ms: number): Promise<void> {
  const end = performance.now() + ms;
  let x = 0;
  while (performance.now() < end) {
    const t0 = performance.now();
    while (performance.now() - t0 < 10) x += Math.sqrt(x + 1);
    await new Promise((r) => setImmediate(r));
  }
}

export async function run(o: CaseOptions): Promise<Row[]> {
  const keys = o.quick ? 100_000 : 1_000_000;
  const ipKeys = Math.round((keys * IPS_PER_CREDENTIAL) / (IPS_PER_CREDENTIAL + 1));
  // room for every key: SIEM_MAX_KEYS weighs bytes, and a credential used from 4 IPs weighs more than one key
  const { state } = coreDeps({ SIEM_MAX_KEYS: String(Math.round(keys * 1.5)) });
  const snapshots = state.snapshots as Snapshotting;
  const now = Date.now();
  // last seen over the past minute, 3% failures, every IP with a credential
  const tsOf = (i: number) => now - 60_000 + Math.floor((i * 60_000) / ipKeys);
  const s = step(`${CASE}: ${keys} keys in the state`);
  for (let i = 0; i < ipKeys; i += 1000) {
    const chunk: KeyedRecord[] = [];
    for (let j = i; j < Math.min(ipKeys, i + 1000); j++)
      chunk.push(keyedRecord(j, tsOf(j), j % 33 === 0 ? 401 : 200, j % (ipKeys / IPS_PER_CREDENTIAL)));
    await state.apply(chunk);
    s.tick(i, ipKeys);
  }
  s.end();
  const held = (await state.gauges()).trackedKeys;
  const dir = mkdtempSync(join(tmpdir(), 'siem-bench-snapshot-'));
  try {
    // baseline: serialized in one go (the event loop is blocked throughout)
    const sync = await stallDuring(async () => {
      const exp = snapshots.beginExport(Date.now());
      let bytes = 0;
      while (exp.step(Number.MAX_SAFE_INTEGER, (e) => (bytes += JSON.stringify(e).length + 1)));
      return bytes;
    });

    const file = join(dir, 'state.ndjson');
    const quiet = await stallDuring(() => saveSnapshot(snapshots, file, Date.now));
    const fileMb = statSync(file).size / 1048576;
    // floors, as long as the save: the probe alone (GC, timers), and 10 ms CPU slices (the machine's scheduling)
    const idle = await stallDuring(() => sleep(quiet.ms));
    const perfect = await stallDuring(() => busySlices(quiet.ms));

    // with ingest: a batch every 1 ms, 90% of keys already held, 10% new
    const rand = prng(11);
    let ingested = 0;
    let nextNew = ipKeys;
    const ingest = setInterval(() => {
      const batch: KeyedRecord[] = [];
      for (let i = 0; i < INGEST_BATCH; i++) {
        const k = rand() < 0.1 ? nextNew++ : Math.floor(rand() * ipKeys);
        batch.push(keyedRecord(k, Date.now(), rand() < 0.03 ? 401 : 200));
      }
      void state.apply(batch).then((r) => (ingested += r.accepted));
    }, 1);
    const busy = await stallDuring(() => saveSnapshot(snapshots, file, Date.now));
    const duringSave = ingested;
    const ingestOnly = await stallDuring(() => sleep(busy.ms));
    clearInterval(ingest);

    const stallRow = (name: string, m: typeof quiet, note: string): Row => ({
      case: CASE,
      name,
      value: m.maxGapMs,
      unit: 'ms',
      baseline: { name: 'all entries serialized in one go', value: sync.ms },
      ratio: ratioOf(m.maxGapMs, sync.ms),
      target: `< ${TARGET_STALL_MS} ms`,
      met: m.maxGapMs < TARGET_STALL_MS,
      note,
    });
    return [
      stallRow(
        `longest event-loop stall during a save, ${held.toLocaleString('en')} keys`,
        quiet,
        `save took ${quiet.ms.toFixed(0)} ms, ${quiet.result.keys} keys, ${fileMb.toFixed(0)} MB; ${quiet.over} gaps >= ${TARGET_STALL_MS} ms; loop delay histogram max ${quiet.maxDelayMs.toFixed(1)} ms; ${gcText(quiet.gc)}. As long without a save: idle ${idle.maxGapMs.toFixed(1)} ms; 10 ms CPU slices ${perfect.maxGapMs.toFixed(1)} ms (${perfect.over} gaps >= ${TARGET_STALL_MS} ms)`,
      ),
      stallRow(
        `same, with ingest going on (a batch of ${INGEST_BATCH} every 1 ms)`,
        busy,
        `save took ${busy.ms.toFixed(0)} ms, ${busy.result.keys} keys; ${duringSave} records ingested during it; ${busy.over} gaps >= ${TARGET_STALL_MS} ms; loop delay histogram max ${busy.maxDelayMs.toFixed(1)} ms; ${gcText(busy.gc)}; the same ingest with no save, as long: ${ingestOnly.maxGapMs.toFixed(1)} ms (${ingestOnly.over} gaps >= ${TARGET_STALL_MS} ms; ${gcText(ingestOnly.gc)})`,
      ),
      {
        case: CASE,
        name: 'longest slice of the save (its own hold on the event loop), with ingest',
        value: busy.result.longestSliceMs,
        unit: 'ms',
        baseline: { name: 'all entries serialized in one go', value: sync.ms },
        ratio: ratioOf(busy.result.longestSliceMs, sync.ms),
        target: `< ${TARGET_STALL_MS} ms`,
        met: busy.result.longestSliceMs < TARGET_STALL_MS,
        note: `${busy.result.slices} slices; quiet: ${quiet.result.slices} slices, longest ${quiet.result.longestSliceMs.toFixed(1)} ms`,
      },
      {
        case: CASE,
        name: 'save duration (quiet)',
        value: quiet.ms,
        unit: 'ms',
        baseline: { name: 'all entries serialized in one go', value: sync.ms },
        ratio: ratioOf(quiet.ms, sync.ms),
        note: 'the sliced save also writes the file (fsync included); the baseline only serializes',
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
