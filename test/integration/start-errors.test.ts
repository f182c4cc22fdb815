// issue 16 (11): a failed start is one line that names the variable to
// change, from the real server process; numbers are plain decimal, enums
// list their values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { loadConfig } from '../../aggregator/config';

/** `node <out>/aggregator/server.js` with these SIEM_* values as given (raw text). */
function startServer(t: { after(fn: () => void): void }, env: Record<string, string>) {
  const child = spawn(process.execPath, [resolve(__dirname, '../../aggregator/server.js')], {
    env: { ...process.env, SIEM_HOST: '127.0.0.1', SIEM_LOG_LEVEL: 'error', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  child.stdout.resume();
  const exited = new Promise<number | null>((ok) => child.on('exit', (code) => ok(code)));
  return { exited, stderrLines: () => err.split('\n').filter((l) => l.trim() !== '') };
}

test('a port in use: exit 1 with one line naming SIEM_PORT, no stack trace', { timeout: 60_000 }, async (t) => {
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  t.after(() => holder.close());
  const port = (holder.address() as net.AddressInfo).port;
  const s = startServer(t, { SIEM_PORT: String(port) });
  assert.equal(await s.exited, 1);
  const said = s.stderrLines();
  assert.equal(said.length, 1, said.join('\n'));
  assert.match(said[0]!, new RegExp(`^kong-siem: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE.*set SIEM_PORT`));
});

test('SIEM_PORT in hex or exponent notation is refused, naming the variable and its range; the server exits 2 with one line', {
  timeout: 60_000,
}, async (t) => {
  for (const value of ['0x10', '1e3', '9457.0', ' ', '+']) {
    assert.throws(
      () => loadConfig({ SIEM_PORT: value }),
      (e: Error) => e.message.includes(`SIEM_PORT=${JSON.stringify(value)}: expected a decimal integer from 0 to 65535`),
      value,
    );
  }
  assert.equal(loadConfig({ SIEM_PORT: '9457' }).port, 9457);
  assert.throws(() => loadConfig({ SIEM_PORT: '70000' }), /SIEM_PORT="70000": out of range, expected a decimal integer from 0 to 65535/);
  assert.throws(() => loadConfig({ SIEM_ERROR_RATIO: '5e-1' }), /SIEM_ERROR_RATIO="5e-1": expected a decimal number from 0 to 1/);
  assert.equal(loadConfig({ SIEM_ERROR_RATIO: '0.25' }).defaults.error_ratio, 0.25);
  const s = startServer(t, { SIEM_PORT: '1e3' });
  assert.equal(await s.exited, 2);
  assert.deepEqual(s.stderrLines(), ['kong-siem: invalid configuration: SIEM_PORT="1e3": expected a decimal integer from 0 to 65535']);
});

test("an enum or boolean variable's error lists the allowed values", () => {
  assert.throws(() => loadConfig({ SIEM_CLOCK: 'sundial' }), /SIEM_CLOCK="sundial": expected one of wall, event/);
  assert.throws(
    () => loadConfig({ SIEM_LOG_LEVEL: 'loud' }),
    /SIEM_LOG_LEVEL="loud": expected one of fatal, error, warn, info, debug, trace, silent/,
  );
  assert.throws(() => loadConfig({ SIEM_HASH_CREDENTIALS: 'yes' }), /SIEM_HASH_CREDENTIALS="yes": expected true or false/);
});

// red team 2: a state file in a directory that does not exist started fine, logged "no state snapshot yet",
// then failed every snapshot: the next restart had nothing to restore
test('SIEM_STATE_FILE in a directory that does not exist: exit 1 with one line naming the variable and the directory', {
  timeout: 60_000,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kong-siem-start-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'missing', 'state.jsonl');
  const s = startServer(t, { SIEM_PORT: '0', SIEM_STATE_FILE: file });
  const code = await Promise.race([
    s.exited,
    new Promise<string>((ok) => setTimeout(() => ok('still running after 20 s'), 20_000).unref()),
  ]);
  assert.equal(code, 1);
  const said = s.stderrLines();
  assert.equal(said.length, 1, said.join('\n'));
  assert.equal(
    said[0],
    `kong-siem: cannot start: SIEM_STATE_FILE=${file}: its directory ${join(dir, 'missing')} cannot take the snapshot (ENOENT); create it, make it writable, or set SIEM_STATE_FILE to another path`,
  );
});

/** Start with SIEM_STATE_FILE=`file`; the exit code (or why not) and stderr's lines. */
async function startWithStateFile(t: { after(fn: () => void): void }, file: string) {
  const s = startServer(t, { SIEM_PORT: '0', SIEM_STATE_FILE: file });
  const code = await Promise.race([
    s.exited,
    new Promise<string>((ok) => setTimeout(() => ok('still running after 20 s'), 20_000).unref()),
  ]);
  return { code, said: s.stderrLines() };
}

// review: root passes access() whatever the path's type, so a file taken for the directory, or a
// directory named as the file, started and then failed every snapshot
test('SIEM_STATE_FILE under a regular file, naming a directory, or with a directory as its decisions file: exit 1 with one line naming the variable', {
  timeout: 60_000,
}, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kong-siem-start-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const plain = join(dir, 'plain');
  writeFileSync(plain, 'x', { mode: 0o755 });
  const underFile = await startWithStateFile(t, join(plain, 'state.jsonl'));
  assert.equal(underFile.code, 1);
  assert.deepEqual(underFile.said, [
    `kong-siem: cannot start: SIEM_STATE_FILE=${join(plain, 'state.jsonl')}: its directory ${plain} cannot take the snapshot (ENOTDIR); create it, make it writable, or set SIEM_STATE_FILE to another path`,
  ]);
  const asDir = join(dir, 'state.d');
  mkdirSync(asDir);
  const isDir = await startWithStateFile(t, asDir);
  assert.equal(isDir.code, 1);
  assert.deepEqual(isDir.said, [
    `kong-siem: cannot start: SIEM_STATE_FILE=${asDir}: it is a directory, not a file; name a file in it, or set SIEM_STATE_FILE to another path`,
  ]);
  // The decisions file beside it: a directory there failed every decisions save, silently for the start.
  const state = join(dir, 'state.jsonl');
  mkdirSync(`${state}.decisions.json`);
  const decisionsDir = await startWithStateFile(t, state);
  assert.equal(decisionsDir.code, 1);
  assert.deepEqual(decisionsDir.said, [
    `kong-siem: cannot start: SIEM_STATE_FILE=${state}: ${state}.decisions.json, where the decisions are kept, is a directory, not a file; remove it, or set SIEM_STATE_FILE to another path`,
  ]);
});

test('SIEM_TRUST_PROXY with a bad CIDR: exit 2 with one line naming the variable and the entry', { timeout: 60_000 }, async (t) => {
  const s = startServer(t, { SIEM_PORT: '0', SIEM_TRUST_PROXY: '127.0.0.1,10.0.0.0/33' });
  assert.equal(await s.exited, 2);
  assert.deepEqual(s.stderrLines(), [
    'kong-siem: invalid configuration: SIEM_TRUST_PROXY: "10.0.0.0/33" is not an IP address or CIDR (IPv4 as four decimal octets without leading zeros, IPv6 without a zone)',
  ]);
});

// README: variables are "validated at start". A misspelled name is no bad
// value (another tool's SIEM_* must not stop the start), but it was ignored
// in silence: SIEM_MAX_KEY=5 started with the default of SIEM_MAX_KEYS.
test("a SIEM_* variable nothing reads is named in a warning at start, with the variable it may misspell; the CLI's SIEM_URL is not", {
  timeout: 60_000,
}, async (t) => {
  const { spawnAggregator } = await import('../helpers/aggregator');
  const secret = 'value-never-logged';
  const agg = spawnAggregator(t, { SIEM_MAX_KEY: '5', SIEM_FOO_BAR: secret, SIEM_URL: 'http://127.0.0.1:9457' });
  await agg.port;
  agg.child.kill('SIGTERM');
  await agg.exited;
  const warnings = agg
    .log()
    .split('\n')
    .filter((l) => l.includes('not a kong-siem variable'))
    .map((l) => JSON.parse(l) as { level: number; msg: string });
  assert.deepEqual(
    warnings.map((w) => [w.level, w.msg]),
    [
      [40, 'SIEM_FOO_BAR is not a kong-siem variable, ignored'],
      [40, 'SIEM_MAX_KEY is not a kong-siem variable, ignored (did you mean SIEM_MAX_KEYS?)'],
    ],
  );
  assert.ok(!agg.log().includes(secret), 'a value is never logged');
});
