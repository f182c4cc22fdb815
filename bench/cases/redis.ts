// Case 10: shared state. Memory, Redis x1, Redis x2 and a 3-master Cluster in
// one run on the same batches (bench/redis.ts), Redis's CPU and memory per
// record and key, and the aggregator's peak RSS for one maximal batch.
import { batches, peakRssOneBatch, runCase } from '../redis';
import { ratioOf, type CaseOptions, type Row } from '../result';

export async function run(o: CaseOptions): Promise<Row[]> {
  const a = { records: o.quick ? 60_000 : 200_000, batch: 1000, concurrency: 4 };
  const bodies = batches(a);
  const c = '10 redis';
  const mem = await runCase(o.outDir, 'memory', 1, 'memory', bodies, a);
  const rows: Row[] = [
    {
      case: c,
      name: 'records/s, memory backend',
      value: mem.records_per_s,
      unit: 'rec/s',
      note: `aggregator CPU ${mem.aggregator_cpu_us} us/record; load generator ${mem.loadgen_cpu_us} us/record; ${mem.placement}`,
    },
  ];
  const shared = [
    await runCase(o.outDir, 'redis x1', 1, 'redis', bodies, a),
    await runCase(o.outDir, 'redis x2', 2, 'redis', bodies, a),
    await runCase(o.outDir, 'cluster x1 (3 masters)', 1, 'cluster', bodies, a),
  ];
  const [one, two] = shared as [typeof mem, typeof mem];
  for (const r of shared) {
    const ratio = ratioOf(r.records_per_s, mem.records_per_s);
    rows.push({
      case: c,
      name: `records/s, ${r.name}`,
      value: r.records_per_s,
      unit: 'rec/s',
      baseline: { name: 'memory', value: mem.records_per_s },
      ratio,
      ...(r.name === 'redis x1' ? { target: '>= 0.5x', met: ratio >= 0.5 } : {}),
      note: `aggregator CPU ${r.aggregator_cpu_us} us/record (all aggregators); Redis CPU ${r.redis_cpu_us} us/record; load generator ${r.loadgen_cpu_us} us/record; ${r.redis_bytes_per_key} B of Redis memory per tracked key (${r.tracked_keys} keys); ${r.placement}`,
    });
  }
  const scale = ratioOf(two.records_per_s, one.records_per_s);
  rows.push({
    case: c,
    name: 'two aggregators vs one (Redis)',
    value: two.records_per_s,
    unit: 'rec/s',
    baseline: { name: 'redis x1', value: one.records_per_s },
    ratio: scale,
    target: '> 1x',
    met: scale > 1,
    note: two.placement,
  });
  const n = o.quick ? 20_000 : 50_000;
  const rssMem = await peakRssOneBatch(o.outDir, 'memory', n);
  const rssRedis = await peakRssOneBatch(o.outDir, 'redis', n);
  const r = ratioOf(rssRedis, rssMem);
  rows.push({
    case: c,
    name: `peak RSS, one batch of ${n} records (Redis)`,
    value: rssRedis,
    unit: 'MB',
    baseline: { name: 'memory backend', value: rssMem },
    ratio: r,
    target: '<= 2x',
    met: r <= 2,
  });
  return rows;
}
