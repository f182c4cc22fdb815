// The compiled `kong-siem` CLI as a child process: exit codes, messages on
// bad input, the table report, detection flags, fingerprint and serve.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { ATTACK, kongLogObject, scenario } from '../../cli/kong-traffic';
import { CLI, runCli } from '../helpers/cli';

const END = Date.parse('2024-06-07T22:10:00Z');

function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'kong-siem-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function scenarioText(benign = 1500): string {
  return scenario({ endMs: END, benign, spanMs: 120_000, seed: 11 })
    .map((r) => `${JSON.stringify(kongLogObject(r))}\n`)
    .join('');
}

test('bad lines are reported with their line numbers, counted and skipped; the run goes on (exit 0)', async (t) => {
  const dir = tmp(t);
  const good = (i: number) => JSON.stringify(kongLogObject({ ts: END + i, ip: `10.0.0.${i}`, status: 200, service: 'orders' }));
  const { client_ip: _ip, ...noIp } = kongLogObject({ ts: END, ip: '10.0.0.1', status: 200, service: 'orders' });
  const file = path.join(dir, 'access.log');
  writeFileSync(
    file,
    [
      good(1),
      '{"truncated": ',
      good(2),
      JSON.stringify(noIp),
      JSON.stringify({ ...kongLogObject({ ts: END, ip: '10.0.0.1', status: 200, service: 'orders' }), client_ip: '300.1.1.1' }),
      '',
      '42',
      `[${good(3)},${good(4)}]`,
      good(5),
    ].join('\r\n'),
  );
  const r = await runCli(['replay', '--json', '-q', file]);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.records, 5, 'two single lines, one array of two, the last line without a newline');
  assert.equal(report.bad_lines, 4);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 4, r.stderr);
  assert.match(lines[0] as string, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2: not JSON`));
  assert.match(lines[1] as string, /:4: not a Kong log object: no client_ip/);
  assert.match(lines[2] as string, /:5: client_ip is not an IP address/);
  assert.match(lines[3] as string, /:7: not a Kong log object/);
});

test('a file that cannot be read: exit 1, and the report of the others is still printed', async (t) => {
  const dir = tmp(t);
  const ok = path.join(dir, 'ok.log');
  writeFileSync(ok, scenarioText(100));
  const missing = path.join(dir, 'missing.log');
  const r = await runCli(['replay', '--json', '-q', ok, missing]);
  assert.equal(r.code, 1);
  const report = JSON.parse(r.stdout);
  assert.ok(report.records > 100, r.stdout);
  assert.deepEqual(report.failed_files, [{ file: missing, lines: 0, error: 'cannot read: ENOENT' }]);
  assert.match(r.stderr, /missing\.log: cannot read: ENOENT; the report covers what was read/);

  const sub = path.join(dir, 'logs');
  mkdirSync(sub);
  const d = await runCli(['replay', '-q', sub]);
  assert.equal(d.code, 1);
  assert.match(d.stderr, /logs: is a directory/);
  assert.match(d.stdout, /^Replayed 0 records/);
});

test('a corrupt gzip file: exit 1 with the line reached, its records before that still counted', async (t) => {
  const dir = tmp(t);
  const gz = gzipSync(scenarioText(2000));
  const file = path.join(dir, 'access.log.gz');
  writeFileSync(file, gz.subarray(0, Math.floor(gz.length / 2)));
  const r = await runCli(['replay', '-q', '--json', file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /access\.log\.gz: read error after line \d+: unexpected end of file/);
  const report = JSON.parse(r.stdout);
  assert.ok(report.records > 0, 'the lines before the damage are replayed');
  assert.equal(report.failed_files.length, 1);
  assert.equal(report.failed_files[0].lines > 0, true);
});

test('usage errors exit 2: unknown option, bad setting, bad time, bad SIEM_* variable', async () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [['replay', '--bogus'], {}, /unknown option '--bogus'/],
    [['replay', '--error-min', '0', '-'], {}, /--error-min.*expected an integer from 1 to 1000000/],
    [['replay', '--error-ratio', '1.5', '-'], {}, /expected a number from 0 to 1/],
    [['replay', '--since', 'yesterday-ish', '-'], {}, /ISO 8601/],
    [['replay', '--credential-source', 'cookie', '-'], {}, /Allowed choices are auto, credential, consumer, header/],
    [['replay', '-'], { SIEM_ERROR_MIN: 'many' }, /invalid configuration/],
    [['frobnicate'], {}, /unknown command 'frobnicate'/],
  ];
  for (const [args, env, message] of cases) {
    const r = await runCli(args, { env, input: '' });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  const help = await runCli(['replay', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--spike-baseline-seconds <n>/);
});

test('the table report answers the four questions; plain progress lines on a non-terminal', async (t) => {
  const dir = tmp(t);
  const file = path.join(dir, 'access.log');
  writeFileSync(file, scenarioText());
  const r = await runCli(['replay', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Replayed \d+ records from 2024-06-07T22:0\d:\d\d(\.\d+)?Z to 2024-06-07T22:(09:\d\d(\.\d+)?Z|10:00Z)/);
  for (const heading of [
    '(a) Top IPs',
    '(a) IPs holding a large share',
    '(b) IPs with many errors',
    '(c) Credentials used from several IPs',
    '(d) Successes, then a spike',
  ]) {
    assert.ok(r.stdout.includes(heading), heading);
  }
  for (const ip of [ATTACK.floodIp, ATTACK.errorIp, ATTACK.spikeIp, ...ATTACK.sharedIps.slice(-2)]) assert.ok(r.stdout.includes(ip), ip);
  // stderr is a pipe here: no bar, a plain summary line at the end
  assert.match(r.stderr, /kong-siem replay: \d+ lines, \d+ records, \d+ records\/s, [\d.]+ MB of [\d.]+ MB \(100%\), done/);
});

test('detection flags change the rules; --no-hash-credentials keeps credentials raw', async (t) => {
  const dir = tmp(t);
  const file = path.join(dir, 'access.log');
  writeFileSync(file, scenarioText());
  const base = JSON.parse((await runCli(['replay', '--json', '-q', file])).stdout);
  assert.ok(base.findings.some((f: any) => f.type === 'error_ip'));

  const strict = await runCli([
    'replay',
    '--json',
    '-q',
    '--error-min',
    '100',
    '--error-burst-min',
    '100',
    '--credential-min-ips',
    '6',
    '--no-hash-credentials',
    file,
  ]);
  assert.equal(strict.code, 0, strict.stderr);
  const s = JSON.parse(strict.stdout);
  assert.ok(!s.findings.some((f: any) => f.type === 'error_ip'), 'no IP has 100 failures');
  assert.ok(!s.findings.some((f: any) => f.type === 'credential_ips'), 'no credential has 6 IPs');

  const raw = JSON.parse((await runCli(['replay', '--json', '-q', '--no-hash-credentials', file])).stdout);
  assert.equal(raw.findings.find((f: any) => f.type === 'credential_ips')?.credential, ATTACK.sharedCredential);
  const keyed = JSON.parse((await runCli(['replay', '--json', '-q', file], { env: { SIEM_HASH_KEY: 'kk' } })).stdout);
  const fp = createHmac('sha256', 'kk').update(ATTACK.sharedCredential).digest('hex').slice(0, 16);
  assert.equal(keyed.findings.find((f: any) => f.type === 'credential_ips')?.credential, fp);
});

test('fingerprint prints what the plugin sends: HMAC with --key or SIEM_HASH_KEY, else SHA-256 with a note', async () => {
  const cred = 'eaa330c0-4cff-47f5-c79e-b2e4f355207e';
  const hmac = createHmac('sha256', 'k3y').update(cred).digest('hex').slice(0, 16);
  const withKey = await runCli(['fingerprint', cred, '--key', 'k3y']);
  assert.equal(withKey.code, 0);
  assert.equal(withKey.stdout, `${hmac}\n`);
  assert.equal(withKey.stderr, '');

  const fromEnv = await runCli(['fingerprint', cred], { env: { SIEM_HASH_KEY: 'k3y' } });
  assert.equal(fromEnv.stdout, `${hmac}\n`);

  const fromStdin = await runCli(['fingerprint', '-', '--key', 'k3y'], { input: `${cred}\n` });
  assert.equal(fromStdin.stdout, `${hmac}\n`);

  const plain = await runCli(['fingerprint', cred]);
  assert.equal(plain.code, 0);
  assert.equal(plain.stdout, `${createHash('sha256').update(cred).digest('hex').slice(0, 16)}\n`);
  assert.match(plain.stderr, /plain SHA-256/);

  const missing = await runCli(['fingerprint']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /missing required argument 'credential'/);
});

test('serve runs the aggregator until SIGTERM', { timeout: 60_000 }, async (t) => {
  const child = spawn(process.execPath, [CLI, 'serve', '--host', '127.0.0.1', '--port', '0'], {
    env: { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SIEM_'))), SIEM_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  // fastify logs "Server listening at http://127.0.0.1:<port>" once it listens
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`no listening line in: ${out}`)), 30_000);
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString('utf8');
      const m = /listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
  });
  const health = await fetch(`${url}/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok' });
  const ingest = await fetch(`${url}/v1/kong-log`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(kongLogObject({ ts: Date.now(), ip: '10.0.0.1', status: 200, service: 'orders' })),
  });
  assert.equal(ingest.status, 202);
  child.kill('SIGTERM');
  assert.equal(await exited, 0);
});

// replay takes its defaults from SIEM_*: a misspelled one (SIEM_ERROR_MN) was
// ignored in silence, the default applied; said on stderr as the server logs it.
test('replay names a SIEM_* variable nothing reads on stderr, with the one it may misspell, and still replays', async () => {
  const line = `${JSON.stringify(kongLogObject({ ts: END, ip: '10.0.0.1', status: 200, service: 'orders' }))}\n`;
  const r = await runCli(['replay', '-q', '--json', '-'], { input: line, env: { SIEM_ERROR_MN: '5', SIEM_URL: 'http://127.0.0.1:1' } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).records, 1);
  assert.deepEqual(
    r.stderr.split('\n').filter((l) => l.includes('not a kong-siem variable')),
    ['kong-siem: SIEM_ERROR_MN is not a kong-siem variable, ignored (did you mean SIEM_ERROR_MIN?)'],
  );
});
