// Case 11: memory bounded by bytes. Per kind of key (bench/key-sprays.ts),
// RSS growth per SIEM_MAX_KEYS slot of an in-memory state sprayed far past
// its cap, each in a child process with a fixed --max-old-space-size,
// against the bound of docs/configuration.md (SIEM_MAX_KEYS).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { BYTES_PER_KEY } from '../../aggregator/state/memory/key-budget';
import type { KeyBytesResult } from '../key-bytes';
import { SPRAY_KINDS } from '../key-sprays';
import { say } from '../progress';
import type { CaseOptions, Row } from '../result';

const CASE = '12 bytes per key';
/** the heap limit of every spray process: well above any budget measured here */
const HEAP_MB = 512;

export async function run(o: CaseOptions): Promise<Row[]> {
  const maxKeys = o.quick ? 20_000 : 200_000;
  const rows: Row[] = [];
  for (const kind of SPRAY_KINDS) {
    say(`${CASE}: ${kind}, SIEM_MAX_KEYS=${maxKeys}`);
    const p = spawnSync(
      process.execPath,
      ['--expose-gc', `--max-old-space-size=${HEAP_MB}`, path.join(o.outDir, 'bench', 'key-bytes.js'), kind, String(maxKeys)],
      { encoding: 'utf8', maxBuffer: 1 << 20 },
    );
    if (p.status !== 0) {
      rows.push({
        case: CASE,
        name: kind,
        unavailable: `spray process ended with ${p.signal ?? `code ${p.status}`}: ${p.stderr.trim().split('\n').at(-1) ?? ''}`,
      });
      continue;
    }
    const r = JSON.parse(p.stdout.trim().split('\n').at(-1) as string) as KeyBytesResult;
    rows.push({
      case: CASE,
      name: `${kind}: RSS growth per SIEM_MAX_KEYS slot`,
      value: r.bytesPerSlot,
      unit: 'B',
      baseline: { name: 'bound per slot', value: BYTES_PER_KEY },
      ratio: r.bytesPerSlot / BYTES_PER_KEY,
      target: `<= ${BYTES_PER_KEY} B`,
      met: r.bytesPerSlot <= BYTES_PER_KEY,
      note: `${r.records.toLocaleString('en')} records, ${r.keys.toLocaleString('en')} keys held, ${(r.accountedBytes / 1e6).toFixed(1)} of ${(r.budgetBytes / 1e6).toFixed(1)} MB accounted, ${r.evictions.toLocaleString('en')} evicted; --max-old-space-size=${HEAP_MB}`,
    });
  }
  return rows;
}
