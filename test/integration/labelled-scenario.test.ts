// A labelled traffic scenario replayed with SIEM_CLOCK=event through HTTP:
// a benign background of thousands of IPs, decoys just under each threshold,
// attacks well over. Precision and recall must be 1.0 on every detection and
// the top 10 must be right.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getJson, postJson, startAggregator } from '../helpers/aggregator';
import { SEC, T, scenario } from '../helpers/labelled-scenario';
import { referenceCounts, referenceFindings } from '../helpers/reference';
import { ipKey } from '../../common/ip-key';
import type { KeyedRecord } from '../../aggregator/state/state';

test('labelled scenario: precision and recall 1.0 on every detection, the right top 10', async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event' });
  t.after(() => agg.close());
  const { records, labels } = scenario();
  assert.ok(records.length > 20_000, `scenario has ${records.length} records`);
  let accepted = 0;
  for (let i = 0; i < records.length; i += 1000) {
    const res = await postJson(`${agg.url}/v1/records`, { records: records.slice(i, i + 1000) });
    assert.equal(res.status, 202);
    accepted += res.body.accepted;
  }
  assert.equal(accepted, records.length);

  // the labels agree with an exact reading of the rules (guards the scenario itself)
  const keyed: KeyedRecord[] = records.map((r) => ({ ...r, ipKey: ipKey(r.ip) as string }));
  const ref = referenceFindings(keyed, T);
  for (const type of ['error_ip', 'credential_ips', 'failure_spike', 'auth_bruteforce'] as const) {
    assert.deepEqual(new Set(ref[type].keys()), labels[type], `labels of ${type}`);
  }

  const { body } = await getJson(`${agg.url}/v1/findings`);
  for (const type of ['error_ip', 'credential_ips', 'failure_spike', 'auth_bruteforce'] as const) {
    const got = new Set<string>(
      body.findings
        .filter((f: { type: string }) => f.type === type)
        .map((f: { service: string; ip?: string; credential?: string }) => `${f.service}|${f.ip ?? f.credential}`),
    );
    const tp = [...got].filter((k) => labels[type].has(k)).length;
    assert.equal(tp / Math.max(1, got.size), 1, `precision of ${type}: got ${[...got].join(', ')}`);
    assert.equal(tp / labels[type].size, 1, `recall of ${type}: got ${[...got].join(', ')}`);
  }
  for (const f of body.findings) {
    if (f.type === 'credential_ips') assert.equal(f.count, 6);
    else
      assert.equal(
        f.count,
        ref[f.type as 'error_ip' | 'failure_spike' | 'auth_bruteforce'].get(`${f.service}|${f.ip}`),
        `count of ${f.type} ${f.ip}`,
      );
    assert.ok(f.since > T - 360 * SEC && f.since <= T, 'since within the state');
  }

  const exact = [...referenceCounts(keyed, T, 'orders', 'requests')].sort((a, b) => b[1] - a[1]);
  const top = (await getJson(`${agg.url}/v1/top?service=orders`)).body;
  assert.deepEqual(
    top.items.map((x: { ip: string }) => x.ip),
    exact.slice(0, 10).map(([ip]) => ip),
  );
  assert.equal(top.items[0].ip, '198.51.100.200');
  const total = exact.reduce((a, [, n]) => a + n, 0);
  const listed = top.items.reduce((a: number, x: { count: number }) => a + x.count, 0);
  // windows span between W - W/20 and W: counts can only fall short, by little
  assert.ok(top.other + listed <= total && top.other + listed >= total * 0.9, `other ${top.other}`);
});
