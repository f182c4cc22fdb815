// Detection parity, scored (issue 18, item 4): the labelled scenarios of
// test/helpers/parity-scenarios.ts through a real aggregator (HTTP, event
// clock, default settings), on the memory backend and on a real Redis,
// precision and recall per rule reported and required to be 1; no finding
// of any rule on the benign scenarios, nor a rule other than its own on the
// demo's benign traffic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ATTACK, kongLogObject, scenario as demoTraffic } from '../../cli/kong-traffic';
import { fingerprint } from '../../common/fingerprint';
import { ipKey } from '../../common/ip-key';
import { getJson, postJson, startAggregator } from '../helpers/aggregator';
import { RULES, scenarios, score, T, type Rule } from '../helpers/parity-scenarios';
import { startRedis, waitFor } from '../helpers/redis';

type F = { type: string; service: string; ip?: string; credential?: string };
const keyOf = (f: F) => `${f.service}|${f.ip ?? f.credential}`;

async function scoreScenarios(t: { diagnostic(m: string): void }, url: string, backend: string): Promise<void> {
  const all = scenarios();
  const records = all.flatMap((s) => s.records).sort((a, b) => a.ts - b.ts);
  records.push({ ts: T, ip: '192.0.2.254', status: 200, service: 'api' }); // the clock ends at T
  for (let i = 0; i < records.length; i += 2000) {
    const res = await postJson(`${url}/v1/records`, { records: records.slice(i, i + 2000) });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    assert.equal(res.body.rejected, 0, JSON.stringify(res.body));
  }
  const findings = (await getJson(`${url}/v1/findings`)).body.findings as F[];

  // which scenario each IP key belongs to
  const owner = new Map<string, string>();
  for (const s of all)
    for (const r of s.records) {
      owner.set(`${r.service}|${ipKey(r.ip)}`, s.name);
      if (r.credential) owner.set(`${r.service}|${r.credential}`, s.name);
    }
  const benign = new Set(all.filter((s) => s.kind === 'benign').map((s) => s.name));
  const onBenign = findings.filter((f) => benign.has(owner.get(keyOf(f)) ?? ''));
  assert.deepEqual(
    onBenign.map((f) => `${f.type} ${keyOf(f)} (${owner.get(keyOf(f))})`),
    [],
    'no finding on benign traffic',
  );

  const rows: string[] = [];
  for (const rule of RULES) {
    const labelled = new Set(all.flatMap((s) => s.labels[rule as Rule] ?? []));
    const found = new Set(findings.filter((f) => f.type === rule).map(keyOf));
    const sc = score(found, labelled);
    rows.push(
      `${backend.padEnd(7)}${rule.padEnd(16)} labelled ${String(labelled.size).padStart(2)}  found ${String(found.size).padStart(2)}  precision ${sc.precision.toFixed(2)}  recall ${sc.recall.toFixed(2)}`,
    );
    assert.equal(sc.precision, 1, `${rule}: precision, extra ${[...found].filter((k) => !labelled.has(k)).join(', ')}`);
    assert.equal(
      sc.recall,
      1,
      `${rule}: recall, missed ${[...labelled]
        .filter((k) => !found.has(k))
        .map((k) => `${k} (${owner.get(k)})`)
        .join(', ')}`,
    );
  }
  for (const row of rows) t.diagnostic(row);
  // bursts say so
  const probe = findings.find((f) => f.type === 'error_ip' && f.ip === '198.18.2.1') as F & { window?: string };
  assert.equal(probe?.window, 'burst');
}

test('parity scenarios, memory backend: precision and recall 1 per rule at default settings; benign traffic stays clean', async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event' });
  t.after(() => agg.close());
  await scoreScenarios(t, agg.url, 'memory');
});

test('parity scenarios, Redis backend: precision and recall 1 per rule at default settings; benign traffic stays clean', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  const agg = await startAggregator({ SIEM_CLOCK: 'event', SIEM_STATE: redis.url });
  t.after(() => agg.close());
  await waitFor(`${agg.url}/healthz ok`, async () => (await getJson(`${agg.url}/healthz`)).status === 200);
  await scoreScenarios(t, agg.url, 'redis');
});

test('the demo traffic: each attacker meets its own rule only, the benign clients none', async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event' });
  t.after(() => agg.close());
  const end = T;
  const reqs = demoTraffic({ endMs: end, benign: 3000, spanMs: 60_000, seed: 1 });
  for (let i = 0; i < reqs.length; i += 1000) {
    const res = await postJson(`${agg.url}/v1/kong-log`, reqs.slice(i, i + 1000).map(kongLogObject));
    assert.equal(res.status, 202);
  }
  const findings = (await getJson(`${agg.url}/v1/findings`)).body.findings as F[];
  const got = findings.map((f) => `${f.type} ${f.ip ?? f.credential}`).sort();
  assert.deepEqual(
    got,
    [
      `auth_bruteforce ${ATTACK.bruteIp}`,
      `credential_ips ${fingerprint(ATTACK.sharedCredential)}`,
      `error_ip ${ATTACK.errorIp}`,
      `failure_spike ${ATTACK.spikeIp}`,
    ].sort(),
  );
});
