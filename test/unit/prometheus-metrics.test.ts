// `promtool check metrics` on a real scrape of a real aggregator that has
// seen traffic raising every kind of series of docs/metrics.md's table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { postJson, startAggregator } from '../helpers/aggregator';
import { documentedMetrics, runTool } from '../helpers/prometheus';

// docs/metrics.md's table: every name must be in the scrape that is linted,
// but for the series this traffic does not raise (no flood of 1,000
// requests, no shared state, no decisions or bouncers configured).
const NOT_RAISED_HERE = new Set([
  'kong_siem_flood_ip',
  'kong_siem_state_errors_total',
  'kong_siem_decisions',
  'kong_siem_bouncer_pulls_total',
  'kong_siem_bouncer_last_pull_seconds',
]);
const SCRAPED_METRICS = documentedMetrics().filter((n) => !NOT_RAISED_HERE.has(n));

async function scrapeWithFindings(t: { after: (fn: () => Promise<void>) => void }): Promise<string> {
  const agg = await startAggregator({ SIEM_MAX_KEYS: '12' });
  t.after(() => agg.close());
  const now = Date.now();
  // 13 keys against a cap of 12, whose byte budget (400 B a key) holds fewer
  // of these (a long history, a credential with its IPs): the flood comes
  // first, so its IPs are the least recently seen and the ones evicted,
  // leaving the findings intact.
  const records = [
    ...Array.from({ length: 6 }, (_, i) => ({ ts: now, ip: `10.9.0.${i + 1}`, status: 200, service: 'flood' })),
    ...Array.from({ length: 25 }, (_, i) => ({ ts: now - 1000 + i, ip: '203.0.113.7', status: 401, service: 'orders' })),
    ...Array.from({ length: 4 }, (_, i) => ({ ts: now - 120_000 + i, ip: '198.51.100.9', status: 200, service: 'orders' })),
    ...Array.from({ length: 12 }, (_, i) => ({ ts: now - 48_000 + i * 4000, ip: '198.51.100.9', status: 503, service: 'orders' })),
    ...[1, 2, 3].map((n) => ({ ts: now, ip: `192.0.2.${n}`, status: 200, service: 'orders', credential: '3f9c1e0a7b2d4c55' })),
    { ts: now, ip: '2001:db8:1:2::5', status: 200, service: 'users' },
    { ts: now, ip: 'not-an-ip', status: 200, service: 'users' },
  ];
  const res = await postJson(`${agg.url}/v1/records`, { records, dropped: 2 });
  assert.equal(res.status, 202, JSON.stringify(res.body));
  const scrape = await fetch(`${agg.url}/metrics`);
  assert.equal(scrape.status, 200);
  return scrape.text();
}

test('promtool check metrics accepts a real /metrics scrape of the aggregator', async (t) => {
  const text = await scrapeWithFindings(t);
  for (const name of SCRAPED_METRICS) assert.match(text, new RegExp(`^${name}(\\{[^}]*\\})? `, 'm'), `${name} missing from the scrape`);
  // the scrape holds flagged series of each detection, not just their HELP
  assert.match(text, /^kong_siem_error_ip\{service="orders",ip="203\.0\.113\.7"\} 25$/m);
  assert.match(text, /^kong_siem_failure_spike\{service="orders",ip="198\.51\.100\.9"\} 12$/m);
  assert.match(text, /^kong_siem_auth_bruteforce\{service="orders",ip="203\.0\.113\.7"\} 25$/m);
  assert.match(text, /^kong_siem_credential_ips\{service="orders",credential="3f9c1e0a7b2d4c55"\} 3$/m);
  assert.match(text, /^kong_siem_evictions_total\{table="ip"\} [1-9]/m);
  const r = await runTool('promtool', ['check', 'metrics'], { input: text });
  assert.equal(r.code, 0, `promtool check metrics:\n${r.stdout}${r.stderr}`);
  assert.equal((r.stdout + r.stderr).trim(), '', 'lint findings');
});

test('promtool check metrics reports a broken exposition (the check can fail)', async () => {
  const bad = '# HELP kong_siem_x A counter without the suffix.\n# TYPE kong_siem_x counter\nkong_siem_x 1\n';
  const r = await runTool('promtool', ['check', 'metrics'], { input: bad });
  assert.notEqual(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout + r.stderr, /_total/);
});
