// Red team 2: a client making SIEM_MAX_FINDINGS error_ip findings (IPv6 /64s
// of one /48, 21 failures each: a few hundred requests a second) emptied
// every other finding type from /v1/findings and the flagged gauges, since
// the cut ranked by count alone and credential_ips counts IPs (a few). Each
// type now keeps a share of the places (aggregator/state/findings-cut.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getJson, postJson } from '../helpers/aggregator';
import { BACKENDS, startOn } from '../helpers/backends';

const MAX_FINDINGS = 10;

for (const backend of BACKENDS)
  test(`${backend}: error_ip findings past SIEM_MAX_FINDINGS leave a stolen credential's finding listed and its gauge exported`, async (t) => {
    const env: Record<string, string> = { SIEM_MAX_FINDINGS: String(MAX_FINDINGS), SIEM_SWEEP_INTERVAL_MS: '60000' };
    const agg = await startOn(t, backend, env);
    const now = Date.now();
    // a stolen credential used from 5 IPs: credential_ips, count 5
    const stolen = [1, 2, 3, 4, 5].map((i) => ({
      ts: now - 1000,
      ip: `198.51.100.${i}`,
      status: 200,
      service: 'orders',
      credential: 'victim',
    }));
    assert.equal((await postJson(`${agg.url}/v1/records`, { records: stolen })).body.accepted, 5);
    // 3x the cap of /64s of one /48, 21 failures each: error_ip findings of count 21
    const flood = [];
    for (let i = 0; i < 3 * MAX_FINDINGS; i++)
      for (let j = 0; j < 21; j++)
        flood.push({ ts: now - 500 + j, ip: `2001:db8:77:${i.toString(16)}::1`, status: 404, service: 'orders' });
    assert.equal((await postJson(`${agg.url}/v1/records`, { records: flood })).body.accepted, flood.length);

    const listed = (await getJson(`${agg.url}/v1/findings`)).body.findings as { type: string; count: number; credential?: string }[];
    assert.equal(listed.length, MAX_FINDINGS);
    assert.deepEqual(
      listed.filter((f) => f.type === 'credential_ips').map((f) => [f.credential, f.count]),
      [['victim', 5]],
      'the credential keeps its place',
    );
    assert.equal(listed.filter((f) => f.type === 'error_ip').length, MAX_FINDINGS - 1, 'the rest are the strongest error_ip');
    const metrics = await (await fetch(`${agg.url}/metrics`)).text();
    assert.ok(
      metrics.includes('kong_siem_credential_ips{service="orders",credential="victim"} 5'),
      'its gauge, which KongSiemSharedCredential reads',
    );
  });
