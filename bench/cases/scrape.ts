// Case 5: GET /metrics render time at the contract's bounds (every findings
// slot full, 20 services x 11 series in each top gauge) with 10k and with 1M
// tracked keys, through the real route (fastify inject, no socket). Baseline:
// prom-client alone rendering a registry with as many series, same process.
import { Gauge, Registry } from 'prom-client';
import { loadConfig } from '../../aggregator/config';
import { buildApp } from '../../aggregator/app';
import type { KeyedRecord } from '../../aggregator/state/state';
import { keyedRecord, SERVICES } from '../keyed';
import { ratioOf, type CaseOptions, type Row } from '../result';
import { step } from '../progress';

const CASE = '5 scrape';
export const TARGET_MS = 20;
export const GROWTH_MAX = 1.5;
/** IP keys flagged by error_ip: more than SIEM_MAX_FINDINGS, so every slot is full */
const FLAGGED = 1500;
/** failures each flagged key sends (error_min is 20) */
const FLAG_FAILURES = 25;
const RENDERS = 25;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function timeIt(n: number, fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 3; i++) await fn();
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return median(ms);
}

/** prom-client alone: one gauge family per 1000 series, as many series as `lines`. */
async function promClientMs(series: number): Promise<number> {
  const registry = new Registry();
  const g = new Gauge({ name: 'bench_series', help: 'baseline', labelNames: ['service', 'ip'], registers: [registry] });
  for (let i = 0; i < series; i++) g.set({ service: `svc-${i % SERVICES}`, ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }, i);
  return timeIt(RENDERS, () => registry.metrics());
}

export async function run(o: CaseOptions): Promise<Row[]> {
  const levels = o.quick ? [10_000] : [10_000, 1_000_000];
  const config = loadConfig({ SIEM_LOG_LEVEL: 'silent' });
  const siem = buildApp(config, { logger: false });
  await siem.app.ready();
  const now = Date.now();
  // flagged keys use the top of the index space, filler keys count up from 0
  const flaggedBase = 50_000_000;
  const flag: KeyedRecord[] = [];
  for (let k = 0; k < FLAGGED; k++) for (let f = 0; f < FLAG_FAILURES; f++) flag.push(keyedRecord(flaggedBase + k, now - f, 401));
  await siem.state.apply(flag);
  const rows: Row[] = [];
  let filled = 0;
  let first: number | undefined;
  const scrape = async () => {
    const res = await siem.app.inject({ method: 'GET', url: '/metrics' });
    if (res.statusCode !== 200) throw new Error(`/metrics answered ${res.statusCode}`);
    return res.body;
  };
  for (const level of levels) {
    const s = step(`${CASE}: filling to ${level} keys`);
    while (filled < level - FLAGGED) {
      const chunk: KeyedRecord[] = [];
      for (let i = 0; i < 1000 && filled < level - FLAGGED; i++, filled++) chunk.push(keyedRecord(filled, now, 200));
      await siem.state.apply(chunk);
      s.tick(filled, level);
    }
    s.end();
    const body = await scrape();
    const series = body.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
    const findingSeries = body.split('\n').filter((l) => l.startsWith('kong_siem_error_ip{')).length;
    const topSeries = body.split('\n').filter((l) => l.startsWith('kong_siem_top_ip_requests{')).length;
    const ms = await timeIt(RENDERS, scrape);
    const base = await promClientMs(series);
    first ??= ms;
    rows.push({
      case: CASE,
      name: `/metrics ms at ${level.toLocaleString('en')} keys`,
      value: ms,
      unit: 'ms',
      baseline: { name: `prom-client alone, ${series} series`, value: base },
      ratio: ratioOf(ms, base),
      target: `<= ${TARGET_MS} ms`,
      met: ms <= TARGET_MS && findingSeries >= config.maxFindings && topSeries >= SERVICES * 11,
      note: `${(siem.state as unknown as { trackedKeys: number }).trackedKeys} keys, ${findingSeries} finding series, ${topSeries} top series (median of ${RENDERS})`,
    });
  }
  if (levels.length > 1 && first !== undefined) {
    const last = rows[rows.length - 1]?.value as number;
    const g = ratioOf(last, first);
    rows.push({
      case: CASE,
      name: '/metrics ms, 1M keys vs 10k keys',
      value: last,
      unit: 'ms',
      baseline: { name: 'same at 10,000 keys', value: first },
      ratio: g,
      target: `<= ${GROWTH_MAX}x`,
      met: g <= GROWTH_MAX,
    });
  }
  await siem.app.close();
  return rows;
}
