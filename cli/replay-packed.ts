// A parser thread's block result as typed arrays and one list of distinct
// strings: moved to the main thread instead of cloned record by record (the
// structured clone of ~1,000 small objects per block cost the main thread,
// which also runs the detectors, about as much as parsing them).
import type { KeyedRecord } from '../aggregator/state/state';
import type { BlockResult } from './replay-lines';

/** Int32 fields per record in PackedBlock.ints */
const FIELDS = 5;
const OUTCOMES = [undefined, 'success', 'failure'] as const;

export interface PackedBlock extends Omit<BlockResult, 'records' | 'recordLines'> {
  /** per record: its ts */
  ts: Float64Array;
  /** per record: its line, status | outcome << 16, and the indexes in `strings` of ipKey, service, credential (-1: none) */
  ints: Int32Array;
  strings: string[];
}

/** `r` packed; its typed arrays' buffers are the ones to move (transfer list). */
export function pack(r: BlockResult): PackedBlock {
  const n = r.records.length;
  const ts = new Float64Array(n);
  const ints = new Int32Array(n * FIELDS);
  const strings: string[] = [];
  const index = new Map<string, number>();
  const ref = (s: string | undefined): number => {
    if (s === undefined) return -1;
    let i = index.get(s);
    if (i === undefined) {
      i = strings.push(s) - 1;
      index.set(s, i);
    }
    return i;
  };
  for (let k = 0; k < n; k++) {
    const rec = r.records[k] as KeyedRecord;
    const at = k * FIELDS;
    ts[k] = rec.ts;
    ints[at] = r.recordLines[k] as number;
    ints[at + 1] = rec.status | ((rec.outcome === undefined ? 0 : rec.outcome === 'success' ? 1 : 2) << 16);
    ints[at + 2] = ref(rec.ipKey);
    ints[at + 3] = ref(rec.service);
    ints[at + 4] = ref(rec.credential);
  }
  const { records: _records, recordLines: _lines, ...rest } = r;
  return { ...rest, ts, ints, strings };
}

/** The block result `p` was made from (records equal to the originals, property for property). */
export function unpack(p: PackedBlock): BlockResult {
  const n = p.ts.length;
  const records: KeyedRecord[] = new Array(n);
  const recordLines: number[] = new Array(n);
  const { ts, ints, strings } = p;
  for (let k = 0; k < n; k++) {
    const at = k * FIELDS;
    const so = ints[at + 1] as number;
    const rec: KeyedRecord = {
      ts: ts[k] as number,
      ipKey: strings[ints[at + 2] as number] as string,
      status: so & 0xffff,
      service: strings[ints[at + 3] as number] as string,
    };
    const c = ints[at + 4] as number;
    if (c >= 0) rec.credential = strings[c];
    const o = OUTCOMES[so >>> 16];
    if (o !== undefined) rec.outcome = o;
    records[k] = rec;
    recordLines[k] = ints[at] as number;
  }
  return { lines: p.lines, records, recordLines, bad: p.bad, kongLogs: p.kongLogs, stream: p.stream, filtered: p.filtered };
}
