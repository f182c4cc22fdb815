// End to end, as operators see it: a real prometheus on loopback scrapes a
// real aggregator (1s interval) with the shipped rules loaded; traffic goes
// in over HTTP; everything is asserted through Prometheus's HTTP API: each
// detection's gauge, the seed-compatible names, the alerts, every dashboard
// query, and the series disappearing once their findings stop qualifying.
// The aggregator's wall clock is injected and frozen (t0 + offset): however
// slow the machine, no window moves until the test moves the offset, which
// then ends findings without waiting.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { postJson, startAggregator, type RunningAggregator } from '../helpers/aggregator';
import {
  dashboardQueries,
  promApi,
  promQuery,
  ruleFiles,
  startPrometheus,
  waitFor,
  type PromSample,
  type RunningPrometheus,
} from '../helpers/prometheus';

const CRED = '3f9c1e0a7b2d4c55';
const DEADLINE_MS = 15_000;

describe('e2e: real Prometheus scraping a real aggregator', () => {
  const t0 = Date.now();
  let offsetMs = 0;
  let agg: RunningAggregator | undefined;
  let prom: RunningPrometheus | undefined;

  /** Wait until `expr` gives exactly one sample equal to `value` (within 1e-9). */
  async function expectValue(expr: string, value: number): Promise<PromSample> {
    let last: PromSample[] = [];
    try {
      return await waitFor(
        `${expr} == ${value}`,
        async () => {
          last = await promQuery(url(), expr);
          const [s] = last;
          return last.length === 1 && s && Math.abs(Number(s.value[1]) - value) < 1e-9 ? s : undefined;
        },
        DEADLINE_MS,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; last result: ${JSON.stringify(last)}`);
    }
  }

  /** Wait until `expr` gives no sample at all. */
  async function expectGone(expr: string): Promise<void> {
    let last: PromSample[] = [];
    try {
      await waitFor(
        `${expr} to vanish`,
        async () => {
          last = await promQuery(url(), expr);
          return last.length === 0 ? true : undefined;
        },
        DEADLINE_MS,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; last result: ${JSON.stringify(last)}`);
    }
  }

  function url(): string {
    assert.ok(prom, 'prometheus did not start');
    return prom.url;
  }

  before(async () => {
    // a bouncer key, so that the decision row's last-pull panel has its series;
    // flood_min_requests under the top talker's 200 requests, so flood_ip fires too
    agg = await startAggregator(
      { SIEM_SWEEP_INTERVAL_MS: '200', SIEM_BOUNCER_KEYS: 'bouncer-key-for-the-dashboard', SIEM_FLOOD_MIN_REQUESTS: '150' },
      { wallNow: () => t0 + offsetMs },
    );
    prom = await startPrometheus({ target: new URL(agg.url).host, ruleFiles: ruleFiles(), intervalSeconds: 1 });
    // Counters must be seen at zero before traffic, or increase() has
    // nothing to compare the first sample with.
    await expectValue('up{job="kong-siem"}', 1);
    await expectValue('kong_siem_records_received_total{job="kong-siem"}', 0);

    const now = t0;
    const records = [
      // error_ip: 25 failures, all its requests
      ...Array.from({ length: 25 }, (_, i) => ({ ts: now - 1000 + i, ip: '203.0.113.7', status: 401, service: 'orders' })),
      // failure_spike: successes 2 minutes ago (baseline), failures now
      ...Array.from({ length: 4 }, (_, i) => ({ ts: now - 120_000 + i, ip: '198.51.100.9', status: 200, service: 'orders' })),
      ...Array.from({ length: 12 }, (_, i) => ({ ts: now - 48_000 + i * 4000, ip: '198.51.100.9', status: 503, service: 'orders' })),
      // credential_ips: one credential from 3 IPs
      ...[1, 2, 3].map((n) => ({ ts: now, ip: `192.0.2.${n}`, status: 200, service: 'orders', credential: CRED })),
      // top talker: 200 of the 240 requests in orders' window
      ...Array.from({ length: 200 }, (_, i) => ({ ts: now - 1500 + (i % 100), ip: '198.51.100.50', status: 200, service: 'orders' })),
      // IP keys: mapped IPv4 is IPv4, IPv6 grouped by /64
      { ts: now, ip: '::ffff:10.0.0.1', status: 200, service: 'users' },
      { ts: now, ip: '2001:db8:1:2::5', status: 200, service: 'users' },
      { ts: now, ip: '2001:db8:1:2::6', status: 204, service: 'users' },
      { ts: now, ip: 'not-an-ip', status: 200, service: 'users' },
    ];
    const res = await postJson(`${agg.url}/v1/records`, { records, dropped: 3 });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.deepEqual(res.body, { accepted: 247, rejected: 1, rejected_by: { ip: 1 } });
  });

  after(async () => {
    await prom?.stop();
    await agg?.close();
  });

  it('loads every shipped rule group and evaluates every rule without error', async () => {
    const data = await waitFor(
      'rules evaluated',
      async () => {
        const d = await promApi(url(), '/api/v1/rules');
        const rules = d.groups.flatMap((g: { rules: { lastEvaluation: string }[] }) => g.rules);
        // evaluated after the traffic: every rule has a recent evaluation
        return rules.length > 0 && rules.every((r: { lastEvaluation: string }) => !r.lastEvaluation.startsWith('0001')) ? d : undefined;
      },
      DEADLINE_MS,
    );
    const names = data.groups.map((g: { name: string }) => g.name).sort();
    assert.deepEqual(names, ['kong-siem-detections', 'kong-siem-health', 'kong-siem-recording', 'kong-siem-seed-compat']);
    for (const g of data.groups) for (const r of g.rules) assert.equal(r.health, 'ok', `${r.name}: ${r.lastError ?? ''}`);
  });

  it("shows each detection's gauge with its value", async () => {
    await expectValue(`kong_siem_error_ip{job="kong-siem",service="orders",ip="203.0.113.7"}`, 25);
    await expectValue(`kong_siem_failure_spike{job="kong-siem",service="orders",ip="198.51.100.9"}`, 12);
    await expectValue(`kong_siem_credential_ips{job="kong-siem",service="orders",credential="${CRED}"}`, 3);
    await expectValue(`kong_siem_auth_bruteforce{job="kong-siem",service="orders",ip="203.0.113.7"}`, 25);
    await expectValue('count(kong_siem_error_ip)', 1);
    await expectValue('count(kong_siem_failure_spike)', 1);
    await expectValue('count(kong_siem_credential_ips)', 1);
    // flood_ip: 200 of the 240 requests in orders' window, flood_min_requests 150
    await expectValue(`kong_siem_flood_ip{job="kong-siem",service="orders",ip="198.51.100.50"}`, 200);
    await expectValue('count(kong_siem_flood_ip)', 1);
    // top_ip: top N plus "other", by requests and by failures
    await expectValue('kong_siem_top_ip_requests{service="orders",ip="198.51.100.50"}', 200);
    await expectValue('kong_siem_top_ip_requests{service="orders",ip="203.0.113.7"}', 25);
    await expectValue('kong_siem_top_ip_requests{service="orders",ip="other"}', 0);
    await expectValue('kong_siem_top_ip_errors{service="orders",ip="203.0.113.7"}', 25);
    await expectValue('kong_siem_top_ip_errors{service="orders",ip="198.51.100.9"}', 12);
    await expectValue('kong_siem_top_ip_requests{service="users",ip="2001:db8:1:2::/64"}', 2);
    await expectValue('kong_siem_top_ip_requests{service="users",ip="10.0.0.1"}', 1);
    await expectValue('kong_siem_window_requests{service="orders"}', 240);
    await expectValue('kong_siem_unique_ips{service="orders"}', 6);
    await expectValue('kong_siem_unique_ips{service="users"}', 2);
    await expectValue('kong_siem_records_received_total', 248);
    await expectValue('kong_siem_records_rejected_total{reason="ip"}', 1);
    await expectValue('kong_siem_sender_dropped_total', 3);
    await expectValue('kong_siem:top_ip_requests:share{service="orders",ip="198.51.100.50"}', 200 / 240);
  });

  it("re-exports the seed's gauge names with the same values", async () => {
    await expectValue('aps_siem_ip_topn{namespace="orders",client_ip="198.51.100.50"}', 200);
    await expectValue('aps_siem_ip_topn{namespace="orders",client_ip="203.0.113.7"}', 25);
    await expectValue('count(aps_siem_ip_topn{client_ip="other"}) or vector(0)', 0);
    await expectValue('aps_siem_ip{namespace="orders"}', 6);
    await expectValue('aps_siem_ip{namespace="users"}', 2);
    await expectValue('aps_siem_requests{namespace="orders"}', 240);
    await expectValue('aps_siem_requests{namespace="users"}', 3);
    // 8 IP keys (6 in orders, 2 in users), plus one credential
    await expectValue('aps_siem_ip_buffer', 8);
    await expectValue('aps_siem_counter', 9);
    await expectValue('aps_siem_ip_buffer - on(job, instance) kong_siem_tracked_ips', 0);
    await expectValue('aps_siem_counter - on(job, instance) kong_siem_tracked_keys', 0);
  });

  it('fires the detection and health alerts, with service and ip or credential', async () => {
    await expectValue('ALERTS{alertname="KongSiemErrorIP",alertstate="firing",service="orders",ip="203.0.113.7",kind="detection"}', 1);
    await expectValue(`ALERTS{alertname="KongSiemSharedCredential",alertstate="firing",service="orders",credential="${CRED}"}`, 1);
    await expectValue('ALERTS{alertname="KongSiemFailureSpike",alertstate="firing",service="orders",ip="198.51.100.9"}', 1);
    await expectValue('ALERTS{alertname="KongSiemFloodIP",alertstate="firing",service="orders",ip="198.51.100.50"}', 1);
    // `for: 2m`: pending is as far as a short test goes
    await expectValue('ALERTS{alertname="KongSiemTopTalker",alertstate="pending",service="orders",ip="198.51.100.50"}', 1);
    await expectValue('ALERTS{alertname="KongSiemRecordsRejected",alertstate="firing",reason="ip"}', 1);
    await expectValue('ALERTS{alertname="KongSiemSenderDropped",alertstate="firing"}', 1);
    // and nothing else: the aggregator is up, other reasons are at zero
    await expectValue('count(ALERTS{alertname=~"KongSiemAggregatorDown|KongSiemEvictions"}) or vector(0)', 0);
    await expectValue('count(ALERTS{alertname="KongSiemRecordsRejected"})', 1);
    await expectValue('count(ALERTS{alertname="KongSiemTopTalker"})', 1);
  });

  it('answers every Grafana dashboard query with data', async () => {
    const queries = dashboardQueries();
    assert.ok(queries.length >= 15);
    for (const q of queries) {
      // parse errors throw at once (HTTP 400); empty answers are retried
      // until the rates have two samples
      const got = await waitFor(
        `data for "${q.where}": ${q.expr}`,
        async () => {
          const r = await promQuery(url(), q.expr);
          return r.length > 0 ? r : undefined;
        },
        DEADLINE_MS,
      ).catch(async (err) => {
        await promQuery(url(), q.expr); // rethrows a parse error with its message
        throw err;
      });
      assert.ok(
        got.every((s) => Number.isFinite(Number(s.value[1]))),
        `${q.where}: ${JSON.stringify(got)}`,
      );
    }
    const services = (await promQuery(url(), dashboardQueries().find((q) => q.where === 'variable service')?.expr ?? ''))
      .map((s) => s.metric.service)
      .sort();
    assert.deepEqual(services, ['orders', 'users']);
  });

  it("drops a finding's series once it stops qualifying", async () => {
    // 70 s later: error_ip (60 s window) and failure_spike (60 s spike
    // window) end; credential_ips (300 s) still holds.
    offsetMs = 70_000;
    await expectGone('kong_siem_error_ip');
    await expectGone('kong_siem_failure_spike');
    await expectGone('kong_siem_flood_ip');
    await expectGone('ALERTS{alertname=~"KongSiemErrorIP|KongSiemFailureSpike"}');
    await expectGone('kong_siem_top_ip_requests{service="orders",ip="198.51.100.50"}');
    await expectGone('aps_siem_ip_topn{namespace="orders"}');
    await expectGone('kong_siem:top_ip_requests:share');
    await expectGone('ALERTS{alertname="KongSiemTopTalker"}');
    await expectValue('kong_siem_window_requests{service="orders"}', 0);
    await expectValue('aps_siem_requests{namespace="orders"}', 0);
    await expectValue(`kong_siem_credential_ips{service="orders",credential="${CRED}"}`, 3);
    await expectValue(`ALERTS{alertname="KongSiemSharedCredential",alertstate="firing"}`, 1);

    // 310 s later: the credential's window has passed too
    offsetMs = 310_000;
    await expectGone('kong_siem_credential_ips');
    await expectGone('ALERTS{alertname="KongSiemSharedCredential"}');
    await expectValue('count(kong_siem_error_ip or kong_siem_failure_spike or kong_siem_credential_ips) or vector(0)', 0);
  });

  it('notices the aggregator going down', async () => {
    assert.ok(agg);
    const stopping = agg;
    agg = undefined;
    await stopping.close();
    await expectValue('up{job="kong-siem"}', 0);
    // `for: 1m`: pending is as far as a short test goes
    await expectValue('ALERTS{alertname="KongSiemAggregatorDown",alertstate="pending",job="kong-siem"}', 1);
  });
});
