// Case 4: bytes of memory (JS heap plus typed arrays) per tracked IP key at 1M keys, every detector's
// per-key state held (window history in two sub-buckets, last-seen time,
// error and spike run starts), against a naive Map<string, {...}> of the
// same information built in the same process.
import { coreDeps, heapAndBuffers } from '../core-state';
import { keyedRecord, serviceOf } from '../keyed';
import { ratioOf, type CaseOptions, type Row } from '../result';
import { ipOf } from '../traffic';
import { step } from '../progress';
import type { KeyedRecord } from '../../aggregator/state/state';

const CASE = '4 memory';
export const TARGET_BYTES = 120;

interface NaiveBucket {
  bucket: number;
  requests: number;
  failures: number;
  successes: number;
}
interface NaiveEntry {
  lastTs: number;
  errorSince: number;
  spikeSince: number;
  buckets: NaiveBucket[];
}

export async function run(o: CaseOptions): Promise<Row[]> {
  const keys = o.quick ? 100_000 : 1_000_000;
  const now = Date.now();
  // two records per key, 30 s apart (two sub-buckets at the default 3 s)
  const tsA = now - 30_000;
  const statusOf = (i: number) => (i % 33 === 0 ? 500 : 200);

  const before = heapAndBuffers();
  let deps: ReturnType<typeof coreDeps> | undefined = coreDeps({ SIEM_MAX_KEYS: String(keys) });
  const s = step(`${CASE}: ${keys} keys in the state`);
  for (let i = 0; i < keys; i += 1000) {
    const chunk: KeyedRecord[] = [];
    for (let j = i; j < Math.min(keys, i + 1000); j++) chunk.push(keyedRecord(j, tsA, 200), keyedRecord(j, now, statusOf(j)));
    await deps.state.apply(chunk);
    s.tick(i, keys);
  }
  s.end();
  const tracked = (deps.state as unknown as { trackedIps: number }).trackedIps;
  const after = heapAndBuffers();
  const heapPerKey = (after.heap - before.heap) / tracked;
  const buffersPerKey = (after.buffers - before.buffers) / tracked;
  const stateBytes = heapPerKey + buffersPerKey;
  deps = undefined;

  const before2 = heapAndBuffers();
  const naive = new Map<string, NaiveEntry>();
  const bucketMs = 3000;
  for (let i = 0; i < keys; i++) {
    const status = statusOf(i);
    naive.set(`${serviceOf(i)}|${ipOf(i)}`, {
      lastTs: now,
      errorSince: -1,
      spikeSince: -1,
      buckets: [
        { bucket: Math.floor(tsA / bucketMs), requests: 1, failures: 0, successes: 1 },
        { bucket: Math.floor(now / bucketMs), requests: 1, failures: status >= 400 ? 1 : 0, successes: status < 400 ? 1 : 0 },
      ],
    });
  }
  const after2 = heapAndBuffers();
  const naiveBytes = (after2.heap - before2.heap + after2.buffers - before2.buffers) / naive.size;
  const naiveSize = naive.size;
  naive.clear();
  const ratio = ratioOf(stateBytes, naiveBytes);
  return [
    {
      case: CASE,
      name: `bytes per IP key at ${keys.toLocaleString('en')} keys (heap + typed arrays)`,
      value: stateBytes,
      unit: 'B/key',
      baseline: { name: 'naive Map<string, {...}>', value: naiveBytes },
      ratio,
      target: `<= ${TARGET_BYTES} B/key and <= 1/3 of naive`,
      met: stateBytes <= TARGET_BYTES && ratio <= 1 / 3,
      note: `${tracked} IP keys tracked (${heapPerKey.toFixed(0)} B JS heap + ${buffersPerKey.toFixed(0)} B typed arrays each), ${naiveSize} naive entries`,
    },
  ];
}
