// `kong-siem findings` and `kong-siem top` against a real aggregator on a
// loopback port: the JSON is the endpoint's own answer, the table shows the
// same figures, the read token comes from SIEM_READ_TOKEN, and failures are
// one line with exit 1. Plus `--version`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getJson, postJson, startAggregator } from '../helpers/aggregator';
import { runCli } from '../helpers/cli';
import { table as listTable } from '../../cli/decisions';
import { freePort } from '../helpers/loopback';
import { REPO_ROOT } from '../helpers/paths';

const TOKEN = 'read-token-for-the-cli-test';
const INGEST = 'ingest-token-for-the-cli-test';

/** An aggregator holding one error_ip, one credential_ips and a top list for two services. */
async function aggregatorWithFindings(t: { after(fn: () => Promise<void>): void }) {
  const agg = await startAggregator({ SIEM_READ_TOKEN: TOKEN, SIEM_INGEST_TOKEN: INGEST });
  t.after(() => agg.close());
  const now = Date.now();
  const records = [];
  for (let i = 0; i < 30; i++) records.push({ ts: now - i, ip: '203.0.113.7', status: 500, service: 'orders' });
  for (let i = 0; i < 4; i++)
    records.push({ ts: now - i, ip: `198.51.100.${i + 1}`, status: 200, service: 'orders', credential: 'c0ffee0000000001' });
  for (let i = 0; i < 12; i++) records.push({ ts: now - i, ip: '192.0.2.9', status: 200, service: 'payments' });
  const res = await postJson(`${agg.url}/v1/records`, { records }, { authorization: `Bearer ${INGEST}` });
  assert.equal(res.status, 202);
  assert.equal(res.body.accepted, records.length);
  return agg;
}

test('kong-siem findings --json prints what GET /v1/findings answers', async (t) => {
  const agg = await aggregatorWithFindings(t);
  const run = await runCli(['findings', '--url', agg.url, '--json'], { env: { SIEM_READ_TOKEN: TOKEN } });
  assert.equal(run.code, 0, run.stderr);
  const printed = JSON.parse(run.stdout);
  const direct = (await getJson(`${agg.url}/v1/findings`, { authorization: `Bearer ${TOKEN}` })).body;
  assert.deepEqual(printed.findings.map((f: { type: string }) => f.type).sort(), ['credential_ips', 'error_ip']);
  assert.deepEqual(printed.findings, direct.findings);
});

test('kong-siem findings prints a table with the figures of each finding, and filters by type', async (t) => {
  const agg = await aggregatorWithFindings(t);
  const all = await runCli(['findings', '--url', agg.url], { env: { SIEM_READ_TOKEN: TOKEN } });
  assert.equal(all.code, 0, all.stderr);
  assert.match(all.stdout, /^2 findings at /);
  assert.match(all.stdout, /^error_ip +orders +203\.0\.113\.7 +30 +100% +\d{4}-\d\d-\d\dT/m);
  assert.match(all.stdout, /^credential_ips +orders +c0ffee0000000001 +4 .*ips: 198\.51\.100\.\d/m);
  const some = await runCli(['findings', '--url', agg.url, '--type', 'credential_ips'], { env: { SIEM_READ_TOKEN: TOKEN } });
  assert.equal(some.code, 0, some.stderr);
  assert.doesNotMatch(some.stdout, /error_ip/);
  assert.match(some.stdout, /^1 finding at /);
});

test("kong-siem top prints a service's top list as GET /v1/top answers it, or every service's", async (t) => {
  const agg = await aggregatorWithFindings(t);
  const env = { SIEM_READ_TOKEN: TOKEN };
  const json = await runCli(['top', 'orders', '--url', agg.url, '--json', '-n', '2'], { env });
  assert.equal(json.code, 0, json.stderr);
  const direct = (await getJson(`${agg.url}/v1/top?service=orders&n=2`, { authorization: `Bearer ${TOKEN}` })).body;
  assert.deepEqual(JSON.parse(json.stdout), direct);
  assert.equal(direct.items[0].ip, '203.0.113.7');

  const table = await runCli(['top', 'orders', '--url', agg.url, '-n', '2'], { env });
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^orders: top IPs by requests in the last 60s$/m);
  // 34 requests: 30 from the first IP, 1 each from the next, 2 others summed
  assert.match(table.stdout, /^ +1 +203\.0\.113\.7 +30 +88%$/m);
  assert.match(table.stdout, /^ +other +3 +9%$/m);

  const every = await runCli(['top', '--url', agg.url, '--by', 'errors'], { env });
  assert.equal(every.code, 0, every.stderr);
  assert.match(every.stdout, /^orders: top IPs by errors/m);
  assert.match(every.stdout, /^payments: top IPs by errors/m);
});

test('tables print control characters of values as escapes: a service name or raw credential cannot drive the terminal', async (t) => {
  const agg = await startAggregator({ SIEM_READ_TOKEN: TOKEN, SIEM_INGEST_TOKEN: INGEST });
  t.after(() => agg.close());
  // what the plugin sends with hash_credentials false for a client-set x-auth-sub header:
  // OSC 52 (write the operator's clipboard), then erase the line and move up (hide rows)
  const credential = '\u001b]52;c;Y3VybCBldmlsfHNo\u0007\u001b[2K\u001b[1A\u009b2J\u202e';
  // (and a right-to-left override: the rest of a row shown reversed)
  const service = 'orders\u001b]0;all clear\u0007';
  const now = Date.now();
  const records = [];
  for (let i = 0; i < 30; i++) records.push({ ts: now - i, ip: '203.0.113.7', status: 500, service });
  for (let i = 0; i < 4; i++) records.push({ ts: now - i, ip: `198.51.100.${i + 1}`, status: 200, service, credential });
  const res = await postJson(`${agg.url}/v1/records`, { records }, { authorization: `Bearer ${INGEST}` });
  assert.equal(res.body.accepted, records.length);
  const env = { SIEM_READ_TOKEN: TOKEN };
  const findings = await runCli(['findings', '--url', agg.url], { env });
  assert.equal(findings.code, 0, findings.stderr);
  const top = await runCli(['top', '--url', agg.url], { env });
  assert.equal(top.code, 0, top.stderr);
  const decisions = listTable([
    {
      id: 1,
      value: '203.0.113.7',
      scope: 'Ip',
      origin: 'kong-siem',
      scenario: 'kong-siem/error_ip',
      duration: '3h59m0s',
      type: 'ban',
      evidence: [{ type: 'error_ip', service, count: 30, since: now }],
    },
  ] as unknown as Parameters<typeof listTable>[0]);
  for (const out of [findings.stdout, top.stdout, decisions]) {
    assert.doesNotMatch(out, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/, JSON.stringify(out));
    assert.match(out, /orders\\u001b\]0;all clear\\u0007/);
  }
  assert.match(
    findings.stdout,
    /^credential_ips +orders\\u001b\]0;all clear\\u0007 +\\u001b\]52;c;Y3VybCBldmlsfHNo\\u0007\\u001b\[2K\\u001b\[1A\\u009b2J\\u202e +4 /m,
  );
  // --json: the same values once parsed, and no raw control character either (JSON.stringify leaves U+009B, a CSI, raw)
  for (const args of [
    ['findings', '--json'],
    ['top', '--json'],
  ]) {
    const out = await runCli([...args, '--url', agg.url], { env });
    assert.equal(out.code, 0, out.stderr);
    assert.doesNotMatch(out.stdout, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/, args.join(' '));
    assert.ok(out.stdout.includes('\\u009b2J') || args[0] === 'top', 'the C1 CSI as an escape');
    assert.ok(JSON.stringify(JSON.parse(out.stdout)).includes(service.slice(0, 6)));
  }
  const json = JSON.parse((await runCli(['findings', '--json', '--url', agg.url], { env })).stdout) as {
    findings: { credential?: string; service: string }[];
  };
  assert.ok(
    json.findings.some((f) => f.credential === credential && f.service === service),
    'values parse back unchanged',
  );
});

test('client commands fail in one line, exit 1: no token, wrong token, no aggregator', async (t) => {
  const agg = await aggregatorWithFindings(t);
  const none = await runCli(['findings', '--url', agg.url]);
  assert.equal(none.code, 1);
  assert.equal(none.stderr, 'kong-siem: the aggregator wants a read token (401): set SIEM_READ_TOKEN\n');
  const wrong = await runCli(['top', 'orders', '--url', agg.url], { env: { SIEM_READ_TOKEN: 'nope' } });
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /^kong-siem: the aggregator refused SIEM_READ_TOKEN \(401\)/);
  const port = await freePort();
  const away = await runCli(['findings', '--json'], { env: { SIEM_URL: `http://127.0.0.1:${port}` } });
  assert.equal(away.code, 1);
  assert.equal(away.stdout, '');
  assert.match(away.stderr, new RegExp(`^kong-siem: cannot reach the aggregator at http://127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`));
  const bad = await runCli(['top', '--url', agg.url, '--by', 'latency']);
  assert.equal(bad.code, 2);
});

test('kong-siem --version prints the package version', async () => {
  const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V']) {
    const run = await runCli([flag]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `${version}\n`);
  }
});
