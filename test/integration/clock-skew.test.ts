// Issue 13.4: one record cannot stop the event clock. A ts more than
// SIEM_MAX_CLOCK_SKEW_SECONDS ahead of the clock is rejected as "future";
// later valid records stay in time, also after a restart and in replay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getJson, metricValue, postJson, startAggregator } from '../helpers/aggregator';
import { startRedis, waitFor } from '../helpers/redis';
import { runCli } from '../helpers/cli';
import { kongLog } from '../helpers/kong-log-fixture';
import { connectRedis, parseRedisState } from '../../aggregator/state/redis/client';
import { metaKeys } from '../../aggregator/state/redis/keys';

const T0 = 1_717_799_280_000;
const rec = (ts: number, ip = '192.0.2.1') => ({ ts, ip, status: 200, service: 'orders' });

function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'siem-skew-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('event clock: a record at ts 9e15 is rejected as "future" and later records are not late, also after a restart', async (t) => {
  const env = { SIEM_CLOCK: 'event', SIEM_STATE_FILE: join(tmp(t), 'state.ndjson') };
  const a = await startAggregator(env);
  assert.deepEqual((await postJson(`${a.url}/v1/records`, { records: [rec(T0)] })).body, { accepted: 1, rejected: 0 });
  const poison = await postJson(`${a.url}/v1/records`, { records: [rec(9e15)] });
  assert.deepEqual(poison.body, { accepted: 0, rejected: 1, rejected_by: { future: 1 } });
  assert.equal(a.clock.now(), T0, 'the clock did not move');
  assert.equal((await postJson(`${a.url}/v1/records`, { records: [rec(T0 + 1000)] })).body.accepted, 1);
  const text = await (await fetch(`${a.url}/metrics`)).text();
  assert.equal(metricValue(text, 'kong_siem_records_rejected_total', { reason: 'future' }), 1);
  assert.equal(metricValue(text, 'kong_siem_records_rejected_total', { reason: 'late' }), 0);
  await a.close();

  const b = await startAggregator(env);
  t.after(() => b.close());
  assert.equal(b.clock.now(), T0 + 1000);
  assert.equal((await postJson(`${b.url}/v1/records`, { records: [rec(T0 + 2000)] })).body.accepted, 1);
});

test('SIEM_MAX_CLOCK_SKEW_SECONDS: within it the clock moves on, beyond it the record is "future"; the first record starts the clock whatever its ts', async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event', SIEM_MAX_CLOCK_SKEW_SECONDS: '60' });
  t.after(() => agg.close());
  const r = await postJson(`${agg.url}/v1/records`, {
    records: [rec(T0 + 86_400_000), rec(T0 + 86_400_000 + 59_000), rec(T0 + 86_400_000 + 59_000 + 61_000), rec(T0 + 86_400_000 + 100_000)],
  });
  assert.deepEqual(r.body, { accepted: 3, rejected: 1, rejected_by: { future: 1 } });
  assert.equal(agg.clock.now(), T0 + 86_400_000 + 100_000);
});

test('wall clock: a record far ahead counts now and makes no later record late', async (t) => {
  const now = T0 + 3_600_000;
  const agg = await startAggregator({}, { wallNow: () => now });
  t.after(() => agg.close());
  assert.equal((await postJson(`${agg.url}/v1/records`, { records: [rec(9e15), rec(now - 30_000)] })).body.accepted, 2);
  assert.equal((await postJson(`${agg.url}/v1/records`, { records: [rec(now - 20_000)] })).body.accepted, 1);
});

test('wall clock: a finding of records stamped ahead starts when they were counted, on both backends, and the CLI lists it (red team 3)', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  const backends: Record<string, string>[] = [{}, { SIEM_STATE: redis.url }];
  for (const env of backends) {
    const agg = await startAggregator(env);
    t.after(() => agg.close());
    await waitFor('state reachable', async () => (await getJson(`${agg.url}/healthz`)).status === 200);
    // a gateway whose clock is far ahead (9e15 is past the last date JavaScript can print)
    const records = Array.from({ length: 30 }, (_, i) => ({ ts: 9e15 + i, ip: '198.51.100.77', status: 500, service: 'orders' }));
    assert.equal((await postJson(`${agg.url}/v1/records`, { records })).body.accepted, 30);
    const answer = (await getJson(`${agg.url}/v1/findings`)).body;
    const f = answer.findings.find((x: { type: string }) => x.type === 'error_ip');
    // before: since was the raw 9e15, a run starting ~285,000 years ahead of records counted now
    assert.ok(f.since <= answer.generated_at, `${env.SIEM_STATE ?? 'memory'}: since ${f.since}, generated_at ${answer.generated_at}`);
    // before: kong-siem findings died on it with "RangeError: Invalid time value"
    const cli = await runCli(['findings', '--url', agg.url]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /198\.51\.100\.77/);
  }
});

test('replay: a line an hour ahead is reported as future with its line number and does not hide the next records', async (t) => {
  const file = join(tmp(t), 'access.log');
  const lines = [];
  for (let i = 0; i < 5; i++) lines.push(kongLog({ ip: '198.51.100.7', startedAt: T0 + i * 1000, status: 500 }));
  lines.push(kongLog({ ip: '198.51.100.7', startedAt: T0 + 3_600_000, status: 500 }));
  for (let i = 5; i < 30; i++) lines.push(kongLog({ ip: '198.51.100.7', startedAt: T0 + i * 1000, status: 500 }));
  writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  const run = await runCli(['replay', '--json', '--quiet', file]);
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout);
  assert.equal(report.records, 30, 'every record but the one ahead');
  assert.equal(report.rejected.future, 1);
  assert.equal(report.rejected.late, 0);
  assert.match(run.stderr, /access\.log:6: .*\(future\)/);
  assert.deepEqual(
    report.findings.map((f: { type: string; count: number }) => [f.type, f.count]),
    [['error_ip', 30]],
  );
});

test('event clock: a ts ahead of the wall clock never moves it, as the first record or confirmed by a second (red team 3)', async (t) => {
  // a replay whose first line carries a broken started_at
  const file = join(tmp(t), 'access.log');
  const lines = [kongLog({ ip: '192.0.2.9', startedAt: 9e15, status: 200 })];
  for (let i = 0; i < 30; i++) lines.push(kongLog({ ip: '198.51.100.7', startedAt: T0 + i * 1000, status: 500 }));
  writeFileSync(file, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  const run = await runCli(['replay', '--json', '--quiet', file]);
  // before: the first line started the clock at 9e15, the 30 others were late (no finding), and the table report died on 9e15
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout);
  assert.deepEqual([report.records, report.rejected.future, report.rejected.late], [30, 1, 0]);
  assert.deepEqual(
    report.findings.map((f: { type: string; count: number }) => [f.type, f.count]),
    [['error_ip', 30]],
  );
  assert.equal((await runCli(['replay', '--quiet', file])).code, 0);

  // ingest: the same first record, then two records ahead of the wall clock confirming each other
  const agg = await startAggregator({ SIEM_CLOCK: 'event' });
  t.after(() => agg.close());
  const first = await postJson(`${agg.url}/v1/records`, { records: [rec(9e15), rec(T0)] });
  assert.deepEqual(first.body, { accepted: 1, rejected: 1, rejected_by: { future: 1 } });
  const pair = await postJson(`${agg.url}/v1/records`, { records: [rec(9e15), rec(9e15 + 1000), rec(T0 + 1000)] });
  assert.deepEqual(pair.body, { accepted: 1, rejected: 2, rejected_by: { future: 2 } });
  assert.equal(agg.clock.now(), T0 + 1000);
});

test('a gap in the traffic is no poison: a second record within the skew of the first one ahead moves the clock there', async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event' });
  t.after(() => agg.close());
  const gap = T0 + 3_600_000;
  const r = await postJson(`${agg.url}/v1/records`, { records: [rec(T0), rec(gap), rec(gap + 1000), rec(gap + 2000), rec(T0 + 10)] });
  // the two records confirming the jump are refused as future, the rest after the gap count
  assert.deepEqual(r.body, { accepted: 2, rejected: 3, rejected_by: { future: 2, late: 1 } });
  assert.equal(agg.clock.now(), gap + 2000);
  // one record alone never moves it
  const one = await postJson(`${agg.url}/v1/records`, { records: [rec(9e15), rec(gap + 3000), rec(1e16), rec(gap + 4000)] });
  assert.deepEqual(one.body, { accepted: 2, rejected: 2, rejected_by: { future: 2 } });
  assert.equal(agg.clock.now(), gap + 4000);
});

test('event clock: a clock ahead of the wall clock in a snapshot or in Redis, as an earlier release left it, is not resumed (review 3)', async (t) => {
  // an earlier release let two records at 9e15 move the event clock there, and saved it
  const file = join(tmp(t), 'state.ndjson');
  const env = { SIEM_CLOCK: 'event', SIEM_STATE_FILE: file };
  const a = await startAggregator(env);
  assert.equal((await postJson(`${a.url}/v1/records`, { records: [rec(T0)] })).body.accepted, 1);
  await a.close();
  const [head, ...rest] = readFileSync(file, 'utf8').split('\n');
  writeFileSync(file, [JSON.stringify({ ...JSON.parse(head as string), clock: 9e15 }), ...rest].join('\n'));
  const b = await startAggregator(env);
  t.after(() => b.close());
  // before: the restore resumed the clock at 9e15 and every later record was late
  assert.deepEqual((await postJson(`${b.url}/v1/records`, { records: [rec(T0 + 1000)] })).body, { accepted: 1, rejected: 0 });
  assert.equal(b.clock.now(), T0 + 1000);

  // the same on Redis: the shared clock an earlier release's aggregator left there
  const redis = await startRedis();
  t.after(() => redis.close());
  const c = connectRedis(parseRedisState(redis.url));
  if (c.status !== 'ready') await new Promise((ok) => c.once('ready', ok));
  await c.set(metaKeys.clock, 9e15);
  await c.quit();
  const r = await startAggregator({ SIEM_CLOCK: 'event', SIEM_STATE: redis.url });
  t.after(() => r.close());
  await waitFor('state reachable', async () => (await getJson(`${r.url}/healthz`)).status === 200);
  assert.deepEqual((await postJson(`${r.url}/v1/records`, { records: [rec(T0)] })).body, { accepted: 1, rejected: 0 });
  assert.equal(r.clock.now(), T0);
});
