// Case 8: the IP spray of the reliability issue (5 million distinct IPs and
// credentials; 300k with --quick) against a real aggregator process capped at
// SIEM_MAX_KEYS, and restart recovery (snapshot at SIGTERM, restore at start).
// Baselines of the same run: the process's RSS before the spray, and the
// bytes per key case 4 would predict are not comparable across processes, so
// the figure is RSS growth per held key.
import { runSpray } from '../spray';
import type { CaseOptions, Row } from '../result';
import { ratioOf } from '../result';

export async function run(o: CaseOptions): Promise<Row[]> {
  const ips = o.quick ? 300_000 : 5_000_000;
  const maxKeys = o.quick ? 100_000 : 1_000_000;
  const r = await runSpray({ ips, maxKeys, batch: 5000, connections: 4 });
  const c = '8 spray';
  return [
    { case: c, name: `records/s, ${(ips / 1e6).toFixed(1)}M distinct IPs`, value: r.records_per_s, unit: 'rec/s' },
    {
      case: c,
      name: `peak RSS, ${r.max_keys.toLocaleString()} keys held`,
      value: r.peak_rss_mb,
      unit: 'MB',
      baseline: { name: 'RSS before the spray', value: r.baseline_rss_mb },
      ratio: ratioOf(r.peak_rss_mb, r.baseline_rss_mb),
      note: `${r.rss_bytes_per_key} B RSS per held key; ${r.evictions.toLocaleString()} evicted`,
    },
    // SIEM_MAX_KEYS bounds bytes too: credential keys weigh more than a slot's share (case 12)
    {
      case: c,
      name: 'tracked keys at the end',
      value: r.tracked_keys,
      target: `<= SIEM_MAX_KEYS (${r.max_keys}), > half of it`,
      met: r.tracked_keys <= r.max_keys && r.tracked_keys > r.max_keys / 2,
    },
    { case: c, name: '/metrics during the spray, worst', value: r.scrape_ms_max, unit: 'ms' },
    {
      case: c,
      name: 'attackers still detected',
      value: r.attackers_found ? 1 : 0,
      target: 'error_ip and credential_ips found',
      met: r.attackers_found,
    },
    { case: c, name: 'snapshot at SIGTERM', value: r.snapshot_s, unit: 's', note: `${r.snapshot_mb} MB file` },
    {
      case: c,
      name: 'restore at start',
      value: r.restore_s,
      unit: 's',
      target: `${r.max_keys} keys back`,
      met: r.restored_keys === r.max_keys,
    },
  ];
}
