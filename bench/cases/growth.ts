// Case 3: records/s through the state and heap at 10k, 100k and 1M tracked IP
// keys. Each level is measured on the same kind of batch: records of keys
// already tracked, drawn uniformly (the cache-unfriendly case), 3% failures,
// 40% with a credential. The per-record cost must stay flat as keys grow.
import { coreDeps, heapUsed } from '../core-state';
import { keyedRecord } from '../keyed';
import { ratioOf, type CaseOptions, type Row } from '../result';
import { prng } from '../traffic';
import { step } from '../progress';
import type { KeyedRecord } from '../../aggregator/state/state';

const CASE = '3 growth';
const CHUNK = 1000;
/** flat: the rate at N keys within 1.5x of the rate at 10k keys */
export const FLAT_RATIO = 1 / 1.5;

export async function run(o: CaseOptions): Promise<Row[]> {
  const levels = o.quick ? [10_000, 100_000] : [10_000, 100_000, 1_000_000];
  const measureRecords = o.quick ? 100_000 : 400_000;
  const { state } = coreDeps();
  const rand = prng(3);
  const now = Date.now();
  let filled = 0;
  const rows: Row[] = [];
  let first: number | undefined;
  for (const level of levels) {
    const s = step(`${CASE}: filling to ${level} keys`);
    while (filled < level) {
      const chunk: KeyedRecord[] = [];
      for (let i = 0; i < CHUNK && filled < level; i++, filled++) chunk.push(keyedRecord(filled, now, 200));
      await state.apply(chunk);
      s.tick(filled, level);
    }
    s.end();
    const batch: KeyedRecord[][] = [];
    for (let n = 0; n < measureRecords; n += CHUNK) {
      const chunk: KeyedRecord[] = [];
      for (let i = 0; i < CHUNK; i++) {
        const k = Math.floor(rand() * level);
        const status = rand() < 0.03 ? 401 : 200;
        chunk.push(keyedRecord(k, now + Math.floor(rand() * 1000), status, rand() < 0.4 ? Math.floor(rand() * 1000) : undefined));
      }
      batch.push(chunk);
    }
    const t0 = process.hrtime.bigint();
    for (const chunk of batch) await state.apply(chunk);
    const rate = measureRecords / (Number(process.hrtime.bigint() - t0) / 1e9);
    batch.length = 0;
    const heap = heapUsed();
    first ??= rate;
    const ratio = ratioOf(rate, first);
    rows.push({
      case: CASE,
      name: `records/s at ${level.toLocaleString('en')} keys`,
      value: rate,
      unit: 'rec/s',
      baseline: { name: 'same at 10,000 keys', value: first },
      ratio,
      target: level === levels[0] ? undefined : `>= ${FLAT_RATIO.toFixed(2)} (flat within 1.5x)`,
      met: level === levels[0] ? undefined : ratio >= FLAT_RATIO,
      note: `heap ${(heap / 1048576).toFixed(0)} MB, ${(state as unknown as { trackedKeys: number }).trackedKeys} keys held`,
    });
  }
  return rows;
}
