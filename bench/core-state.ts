// The aggregator's ingest path without HTTP: config, clock, metrics and state
// built as app.ts builds them, and ingestRecords as the route calls it.
import { loadConfig } from '../aggregator/config';
import { createClock } from '../aggregator/clock';
import { createMetrics } from '../aggregator/metrics';
import { createState } from '../aggregator/state';
import type { IngestDeps } from '../aggregator/routes/ingest';
import type { SiemState } from '../aggregator/state/state';
import { createBatchLedger } from '../aggregator/batch-ledger';

export function coreDeps(env: Record<string, string> = {}): IngestDeps & { state: SiemState } {
  const config = loadConfig({ SIEM_LOG_LEVEL: 'silent', ...env });
  const clock = createClock(config.clock);
  const metrics = createMetrics();
  const state = createState(config, clock, (table) => metrics.evictions.inc({ table }));
  const batches = createBatchLedger(config.maxBatchIds, Date.now, () => metrics.evictions.inc({ table: 'batch' }));
  return { config, state, metrics, batches };
}

/** Heap in use after a full collection (needs --expose-gc). */
/** JS heap plus typed-array storage (which lives outside the JS heap), after full GCs. */
export function heapAndBuffers(): { heap: number; buffers: number } {
  heapUsed();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, buffers: m.arrayBuffers };
}

export function heapUsed(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}
