// Whoever holds the ingest path must not be able to keep an attacker unbanned
// by making stronger findings of a type that never bans: SIEM_MAX_FINDINGS
// bounds what /v1/findings lists, not which IP findings the decision policy sees.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getJson, postJson } from '../helpers/aggregator';
import { KEY_A, attack, pull, values } from '../helpers/decisions';
import { BACKENDS, startOn } from '../helpers/backends';

const MAX_FINDINGS = 5;

for (const backend of BACKENDS)
  test(`${backend}: credential findings stronger than an error_ip finding, past SIEM_MAX_FINDINGS, do not stop its ban`, async (t) => {
    const env: Record<string, string> = {
      SIEM_BOUNCER_KEYS: KEY_A,
      SIEM_MAX_FINDINGS: String(MAX_FINDINGS),
      SIEM_SWEEP_INTERVAL_MS: '60000',
    };
    const agg = await startOn(t, backend, env);

    // 2x the cap of credential_ips findings, each credential from 40 IPs (count 40)
    const now = Date.now();
    const records = [];
    for (let c = 0; c < 2 * MAX_FINDINGS; c++)
      for (let i = 0; i < 40; i++)
        records.push({ ts: now - 100 + i, ip: `198.51.${c}.${i + 1}`, status: 200, service: 'orders', credential: `decoy-${c}` });
    assert.equal((await postJson(`${agg.url}/v1/records`, { records })).status, 202);
    // the attacker: 25 failures, an error_ip finding of count 25
    assert.equal(await attack(agg.url, '203.0.113.7', 25), 202);

    // the listing is cut at the cap: each type keeps a share (findings-cut.ts), the decoys take the rest
    const listed = (await getJson(`${agg.url}/v1/findings`)).body.findings as { type: string; count: number }[];
    assert.equal(listed.length, MAX_FINDINGS);
    assert.deepEqual(
      listed.map((f) => f.type),
      [...Array(MAX_FINDINGS - 1).fill('credential_ips'), 'error_ip'],
    );
    const errorIp = (await getJson(`${agg.url}/v1/findings?type=error_ip`)).body.findings as { ip: string; count: number }[];
    assert.deepEqual(
      errorIp.map((f) => [f.ip, f.count]),
      [['203.0.113.7', 25]],
    );

    await agg.decisions.reconcileNow();
    const startup = await pull(agg.url, KEY_A, true);
    assert.equal(startup.status, 200);
    assert.deepEqual(values(startup.body.new), ['203.0.113.7']);
  });
