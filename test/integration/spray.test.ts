// IP and credential sprays through real ingest: memory stays bounded by
// SIEM_MAX_KEYS, /metrics keeps answering within its bounds, and the real
// attackers of a concurrent scenario stay detected. (The 5-million spray is
// in `npm run bench`; this one is sized for CI.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { getJson, metricValue, postJson, startAggregator } from '../helpers/aggregator';
import { prng } from '../helpers/records';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapMb = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
};

const T0 = 1_717_799_280_000;
const MAX_KEYS = 20_000;
const BATCHES = 60;
const PER_BATCH = 5000;

function sprayBatch(b: number, rnd: () => number) {
  const records: Record<string, unknown>[] = [];
  for (let i = 0; i < PER_BATCH; i++) {
    const n = b * PER_BATCH + i;
    const ts = T0 + Math.floor(n / 10); // 300k records over 30 s of event time
    const ip =
      i % 10 === 0
        ? `2001:db8:${(n & 0xffff).toString(16)}:${((n >> 16) & 0xffff).toString(16)}::${Math.floor(rnd() * 0xffff).toString(16)}` // random /64s
        : `${10 + (n >> 24)}.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
    records.push({ ts, ip, status: rnd() < 0.03 ? 404 : 200, service: 'orders', credential: `spray-${n}` });
  }
  // the concurrent attackers, a few records in every batch
  const ts = T0 + Math.floor((b * PER_BATCH) / 10);
  for (let k = 0; k < 3; k++) records.push({ ts, ip: '192.0.2.66', status: 401, service: 'orders' });
  records.push({ ts, ip: `198.51.100.${b % 5}`, status: 200, service: 'orders', credential: 'stolen' });
  return records;
}

test('IP and credential spray: state capped, heap bounded, scrape bounded, attackers still found', async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event', SIEM_MAX_KEYS: String(MAX_KEYS) });
  t.after(() => agg.close());
  const rnd = prng(5);
  let heapAtQuarter = 0;
  let scrapeLines = 0;
  for (let b = 0; b < BATCHES; b++) {
    const res = await postJson(`${agg.url}/v1/records`, { records: sprayBatch(b, rnd) });
    assert.equal(res.status, 202);
    assert.equal(res.body.rejected, 0);
    if (b === BATCHES / 4) heapAtQuarter = heapMb();
    if (b % 10 === 9) {
      const m = await (await fetch(`${agg.url}/metrics`)).text();
      // the SIEM's own series: process_* and nodejs_* do not grow with traffic
      scrapeLines = Math.max(scrapeLines, m.split('\n').filter((l) => l.startsWith('kong_siem_')).length);
      assert.ok(metricValue(m, 'kong_siem_tracked_keys')! <= MAX_KEYS);
    }
  }
  const heapAtEnd = heapMb();
  const m = await (await fetch(`${agg.url}/metrics`)).text();
  // SIEM_MAX_KEYS is a byte budget too: credential keys weigh more than a slot's share, so fewer are held
  const tracked = metricValue(m, 'kong_siem_tracked_keys')!;
  assert.ok(tracked <= MAX_KEYS && tracked > MAX_KEYS / 2, `tracked keys ${tracked}`);
  const evicted =
    metricValue(m, 'kong_siem_evictions_total', { table: 'ip' })! + metricValue(m, 'kong_siem_evictions_total', { table: 'credential' })!;
  assert.ok(evicted > BATCHES * PER_BATCH, `evictions ${evicted}`);
  // 225k more keys went through after the quarter mark: unbounded state would
  // have grown the heap by tens of MB; bounded state by next to nothing.
  assert.ok(
    heapAtEnd - heapAtQuarter < 12,
    `heap grew ${(heapAtEnd - heapAtQuarter).toFixed(1)} MB (at 1/4: ${heapAtQuarter.toFixed(1)} MB)`,
  );
  assert.ok(scrapeLines < 200, `scrape has ${scrapeLines} kong_siem_ lines`);

  const findings = (await getJson(`${agg.url}/v1/findings`)).body.findings as { type: string; ip?: string; credential?: string }[];
  assert.ok(
    findings.some((f) => f.type === 'error_ip' && f.ip === '192.0.2.66'),
    JSON.stringify(findings),
  );
  assert.ok(
    findings.some((f) => f.type === 'credential_ips' && f.credential === 'stolen'),
    JSON.stringify(findings),
  );
  // its 401s make the error IP a brute force too (auth_bruteforce)
  assert.ok(
    findings.some((f) => f.type === 'auth_bruteforce' && f.ip === '192.0.2.66'),
    JSON.stringify(findings),
  );
  assert.equal(findings.length, 3, `no sprayed key is flagged: ${JSON.stringify(findings)}`);
  t.diagnostic(`heap at 1/4: ${heapAtQuarter.toFixed(1)} MB, at end: ${heapAtEnd.toFixed(1)} MB, ${tracked} keys held, ${evicted} evicted`);
});
