// One spray of bench/key-sprays.ts against an in-memory state capped at
// SIEM_MAX_KEYS, in a process of its own with a fixed heap limit (case 12
// starts it): RSS growth per SIEM_MAX_KEYS slot, measured after full
// collections from before the state was built (after a warm-up), the worst of a few
// checkpoints through the spray.
//   node --expose-gc --max-old-space-size=512 dist/bench/key-bytes.js <kind> <maxKeys>
import { readFileSync } from 'node:fs';
import { createClock } from '../aggregator/clock';
import { MemoryState } from '../aggregator/state/memory/state';
import { DEFAULT_SETTINGS } from '../common/settings';
import { heapUsed } from './core-state';
import { spray, SPRAY_KINDS, type SprayKind } from './key-sprays';

export interface KeyBytesResult {
  kind: SprayKind;
  maxKeys: number;
  records: number;
  /** worst RSS growth / maxKeys over the checkpoints */
  bytesPerSlot: number;
  /** keys held at the end, and the state's accounted bytes against its budget */
  keys: number;
  accountedBytes: number;
  budgetBytes: number;
  evictions: number;
}

/** batches between RSS checkpoints (each a few full collections) */
const CHECKPOINT_BATCHES = 50;
const WARM_BATCHES = 300;

function rss(): number {
  heapUsed(); // full collections first
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  return Number(kb) * 1024;
}

async function main(): Promise<void> {
  const [kind, max] = process.argv.slice(2);
  if (!SPRAY_KINDS.includes(kind as SprayKind) || !(Number(max) > 0))
    throw new Error(`usage: key-bytes.js <${SPRAY_KINDS.join('|')}> <maxKeys>`);
  const maxKeys = Number(max);
  // Warm-up: the same spray into a small state, thrown away, so that the
  // young generation and compiled code are in the baseline, not the growth.
  const small = new MemoryState({
    clock: createClock('event'),
    defaults: DEFAULT_SETTINGS,
    maxKeys: 1000,
    maxServices: 10,
    maxFindings: 1000,
    credentialMaxIps: 100,
  });
  let warm = 0;
  for (const batch of spray(kind as SprayKind, maxKeys)) {
    await small.apply(batch);
    if (++warm >= WARM_BATCHES) break;
  }
  const before = rss();
  let evictions = 0;
  const state = new MemoryState({
    clock: createClock('event'),
    defaults: DEFAULT_SETTINGS,
    maxKeys,
    maxServices: 10,
    maxFindings: 1000,
    credentialMaxIps: 100,
    onEvict: () => evictions++,
  });
  let worst = 0;
  let records = 0;
  let i = 0;
  for (const batch of spray(kind as SprayKind, maxKeys)) {
    await state.apply(batch);
    records += batch.length;
    if (++i % CHECKPOINT_BATCHES === 0) worst = Math.max(worst, rss() - before);
  }
  worst = Math.max(worst, rss() - before);
  const result: KeyBytesResult = {
    kind: kind as SprayKind,
    maxKeys,
    records,
    bytesPerSlot: worst / maxKeys,
    keys: state.trackedKeys,
    accountedBytes: state.accountedBytes,
    budgetBytes: state.budgetBytes,
    evictions,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err) => {
  process.stderr.write(`key-bytes: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
