// `kong-siem demo` (what `npm run demo` runs) as a child process: it must
// show every pattern detected, serve /metrics, fall back from a busy port and
// stop on Ctrl-C.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { ATTACK } from '../../cli/kong-traffic';
import { metricValue } from '../helpers/aggregator';

const CLI = path.resolve(__dirname, '../../cli/index.js');

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SIEM_')) env[k] = v;
  return { ...env, ...extra };
}

function startDemo(t: { after(fn: () => void): void }, args: string[], env: Record<string, string>) {
  const child = spawn(process.execPath, [CLI, 'demo', ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString('utf8')));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  /** resolves once stdout matches, bounded */
  const waitFor = (re: RegExp, ms = 30_000) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const deadline = Date.now() + ms;
      const poll = () => {
        const m = re.exec(stdout);
        if (m) return resolve(m);
        if (Date.now() > deadline || child.exitCode !== null) return reject(new Error(`no ${re} in: ${stdout}\n${stderr}`));
        setTimeout(poll, 50);
      };
      poll();
    });
  return { child, exited, waitFor, output: () => ({ stdout, stderr }) };
}

async function busyPort(t: { after(fn: () => Promise<void>): void }): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('no port');
  return addr.port;
}

test('demo --once: every pattern detected, /metrics URL printed, a busy port falls back to a free one', { timeout: 60_000 }, async (t) => {
  const busy = await busyPort(t);
  const demo = startDemo(t, ['--once'], { SIEM_PORT: String(busy) });
  assert.equal(await demo.exited, 0, demo.output().stderr);
  const { stdout } = demo.output();
  assert.match(stdout, new RegExp(`\\(port ${busy} was busy\\)`));
  const url = /Prometheus metrics: http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(stdout);
  assert.ok(url, stdout);
  assert.notEqual(Number(url[1]), busy);
  assert.doesNotMatch(stdout, /Findings page/, '--once serves nothing after it prints');
  assert.match(stdout, new RegExp(`${ATTACK.floodIp.replace(/\./g, '\\.')} +400 requests`));
  assert.match(stdout, new RegExp(`error_ip +orders +${ATTACK.errorIp.replace(/\./g, '\\.')} +60 failures`));
  assert.match(stdout, /credential_ips +orders +credential [0-9a-f]{16} +from 5 IPs/);
  assert.match(stdout, new RegExp(`failure_spike +orders +${ATTACK.spikeIp.replace(/\./g, '\\.')} +15 failures \\(100%\\) after 8 successes`));
});

test('demo keeps serving: the findings page\'s URL printed and served, /metrics shows the flagged series; Ctrl-C stops it with exit 0', { timeout: 60_000 }, async (t) => {
  const demo = startDemo(t, [], { SIEM_PORT: '0' });
  const [, metricsUrl] = await demo.waitFor(/Prometheus metrics: (http:\/\/127\.0\.0\.1:\d+\/metrics)/);
  const [, pageUrl] = await demo.waitFor(/Findings page: +(http:\/\/127\.0\.0\.1:\d+\/) /);
  await demo.waitFor(/Serving until Ctrl-C/);
  assert.equal(new URL(pageUrl as string).origin, new URL(metricsUrl as string).origin);
  const page = await fetch(pageUrl as string);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  assert.match(await page.text(), /<title>kong-siem findings<\/title>/);
  const res = await fetch(metricsUrl as string);
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.equal(metricValue(text, 'kong_siem_error_ip', { service: 'orders', ip: ATTACK.errorIp }), 60);
  assert.equal(metricValue(text, 'kong_siem_failure_spike', { service: 'orders', ip: ATTACK.spikeIp }), 15);
  assert.equal(metricValue(text, 'kong_siem_top_ip_requests', { service: 'orders', ip: ATTACK.floodIp }), 400);
  demo.child.kill('SIGINT');
  assert.equal(await demo.exited, 0);
});
