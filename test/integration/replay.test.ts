// `kong-siem replay` (the compiled CLI, as a child process) against live
// ingest of the same log objects into a real aggregator on the event clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { ATTACK, kongLogObject, scenario } from '../../cli/kong-traffic';
import { getJson, postJson, startAggregator } from '../helpers/aggregator';

const CLI = path.resolve(__dirname, '../../cli/index.js');
const END = Date.parse('2024-06-07T22:10:00Z');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI with a clean SIEM_* environment; killed if it outlives the deadline. */
function runCli(args: string[], o: { input?: string | Buffer; env?: Record<string, string> } = {}): Promise<Run> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SIEM_')) env[k] = v;
  Object.assign(env, o.env);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
    child.stdin.on('error', () => {}); // the CLI may exit before reading all of it
    child.stdin.end(o.input);
  });
}

function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'kong-siem-replay-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const keyOf = (f: any) => `${f.type}|${f.service}|${f.ip ?? f.credential}`;
const sorted = (fs: any[]) => [...fs].sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : 1));

test('replay of a 100k-line file-log gives the same findings as live ingest of the same records', { timeout: 120_000 }, async (t) => {
  const dir = tmp(t);
  const lines = scenario({ endMs: END, benign: 99_500, spanMs: 600_000, seed: 3 }).map((r) => JSON.stringify(kongLogObject(r)));
  assert.ok(lines.length >= 100_000, `${lines.length} lines`);
  const file = path.join(dir, 'access.log');
  writeFileSync(file, `${lines.join('\n')}\n`);

  const env = { SIEM_HASH_KEY: 'equivalence-key' };
  const agg = await startAggregator({ SIEM_CLOCK: 'event', ...env });
  t.after(() => agg.close());
  const live = (async () => {
    let accepted = 0;
    // http-log's batches: arrays of log objects, in the order Kong wrote them
    for (let i = 0; i < lines.length; i += 2000) {
      const r = await postJson(`${agg.url}/v1/kong-log`, `[${lines.slice(i, i + 2000).join(',')}]`);
      assert.equal(r.status, 202);
      accepted += r.body.accepted;
    }
    return { accepted, findings: (await getJson(`${agg.url}/v1/findings`)).body.findings };
  })();
  const [run, ingest] = await Promise.all([runCli(['replay', '--json', '--quiet', file], { env }), live]);

  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout);
  assert.equal(report.bad_lines, 0);
  assert.equal(report.records, lines.length);
  assert.equal(ingest.accepted, lines.length);
  assert.deepEqual(
    report.findings.map((f: any) => f.type).sort(),
    ['credential_ips', 'error_ip', 'failure_spike'],
    'the scenario ends with one entity per rule',
  );
  assert.deepEqual(sorted(report.findings), sorted(ingest.findings));
});

test('gzip, stdin and plain files replay alike; history keeps what lapsed before the end', { timeout: 60_000 }, async (t) => {
  const dir = tmp(t);
  const text = scenario({ endMs: END, benign: 4000, spanMs: 360_000, seed: 5 })
    .map((r) => `${JSON.stringify(kongLogObject(r))}\n`)
    .join('');
  const plain = path.join(dir, 'access.log');
  const gz = path.join(dir, 'access.log.1.gz');
  writeFileSync(plain, text);
  writeFileSync(gz, gzipSync(text));

  const runs = await Promise.all([
    runCli(['replay', '--json', '-q', plain]),
    runCli(['replay', '--json', '-q', gz]),
    runCli(['replay', '--json', '-q', '-'], { input: text }),
    runCli(['replay', '--json', '-q'], { input: gzipSync(text) }),
  ]);
  const reports = runs.map((r) => {
    assert.equal(r.code, 0, r.stderr);
    const { elapsed_ms: _e, ...rest } = JSON.parse(r.stdout);
    return rest;
  });
  for (const r of reports.slice(1)) assert.deepEqual(r, reports[0]);

  const report = reports[0] as any;
  const early = report.history.find((h: any) => h.type === 'error_ip' && h.ip === ATTACK.earlyErrorIp);
  assert.ok(early, 'the early error burst is in the history');
  assert.equal(early.service, 'billing');
  assert.equal(early.count, 30);
  assert.ok(!report.findings.some((f: any) => f.ip === ATTACK.earlyErrorIp), 'but no longer flagged at the end');
  const orders = report.top.find((x: any) => x.service === ATTACK.service);
  assert.deepEqual(orders.items[0], { ip: ATTACK.floodIp, count: 400 });
});

test('--since/--until skip records by start time; a record older than the longest window is late', { timeout: 60_000 }, async (t) => {
  const dir = tmp(t);
  const reqs = scenario({ endMs: END, benign: 2000, spanMs: 360_000, seed: 9 });
  // one straggler, 400 s older than the newest record: beyond the longest window (360 s)
  reqs.push({ ts: END - 400_000, ip: '10.9.9.9', status: 200, service: 'orders' });
  const file = path.join(dir, 'access.log');
  writeFileSync(file, reqs.map((r) => `${JSON.stringify(kongLogObject(r))}\n`).join(''));

  const all = await runCli(['replay', '--json', '-q', file]);
  assert.equal(all.code, 0, all.stderr);
  const full = JSON.parse(all.stdout);
  assert.equal(full.rejected.late, 1);
  assert.equal(full.records, reqs.length - 1);

  const since = END - 120_000;
  const cut = await runCli(['replay', '--json', '-q', '--since', new Date(since).toISOString(), '--until', String(END + 1), file]);
  assert.equal(cut.code, 0, cut.stderr);
  const part = JSON.parse(cut.stdout);
  const before = reqs.filter((r) => r.ts < since).length;
  assert.equal(part.filtered, before);
  assert.equal(part.records, reqs.length - before);
  assert.equal(part.rejected.late, 0);
  assert.ok(part.first_ts >= since);
  assert.ok(!part.history.some((h: any) => h.ip === ATTACK.earlyErrorIp));
  assert.deepEqual(sorted(part.findings), sorted(full.findings), 'the last two minutes hold every finding of the end');
});
