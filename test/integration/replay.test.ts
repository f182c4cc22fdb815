// `kong-siem replay` (the compiled CLI, as a child process) against live
// ingest of the same log objects into a real aggregator on the event clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { ATTACK, kongLogObject, scenario } from '../../cli/kong-traffic';
import { kongLogScanner } from '../../cli/kong-log-scan';
import { missingFields } from '../../cli/replay';
import { isStreamLog, recordFromKongLog } from '../../common/kong-log';
import { anonymousKongLog, kongLog, kongStreamLog } from '../helpers/kong-log-fixture';
import { getJson, postJson, startAggregator } from '../helpers/aggregator';
import { runCli } from '../helpers/cli';

const END = Date.parse('2024-06-07T22:10:00Z');

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
    ['auth_bruteforce', 'credential_ips', 'error_ip', 'failure_spike'],
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

test('a FIFO (as `replay <(zcat access.log.gz)` gives) replays like the file, plain or gzip, on one thread or several', {
  timeout: 60_000,
}, async (t) => {
  const dir = tmp(t);
  const text = scenario({ endMs: END, benign: 2000, spanMs: 360_000, seed: 7 })
    .map((r) => `${JSON.stringify(kongLogObject(r))}\n`)
    .join('');
  const plain = path.join(dir, 'access.log');
  writeFileSync(plain, text);
  const want = await runCli(['replay', '--json', '-q', plain]);
  assert.equal(want.code, 0, want.stderr);
  const { elapsed_ms: _w, ...expected } = JSON.parse(want.stdout);
  const cases: Array<{ name: string; body: Buffer | string; args: string[] }> = [
    { name: 'plain', body: text, args: [] },
    { name: 'gzip', body: gzipSync(text), args: [] },
    { name: 'plain-workers', body: text, args: ['--workers', '2'] },
    { name: 'gzip-workers', body: gzipSync(text), args: ['--workers', '2'] },
  ];
  for (const c of cases) {
    const fifo = path.join(dir, `${c.name}.fifo`);
    execFileSync('mkfifo', [fifo]);
    // the writer's open waits for the reader's: the CLI's
    const writing = new Promise<void>((resolve, reject) => createWriteStream(fifo).on('error', reject).end(c.body, resolve));
    const run = await runCli(['replay', '--json', '-q', ...c.args, fifo]);
    await writing;
    assert.equal(run.code, 0, `${c.name}: ${run.stderr}`);
    const { elapsed_ms: _e, ...got } = JSON.parse(run.stdout);
    assert.deepEqual(got, expected, c.name);
  }
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

// The replay's line scanner against what it replaces, JSON.parse and the
// same mapping: on generated Kong log lines, mutated byte by byte, whatever
// the scanner accepts must be a JSON object giving the same record (and the
// same bad-line reason) for every credential source.
test('the line scanner gives what JSON.parse + recordFromKongLog give, or declines', () => {
  const CRED_HEADER = 'X-Auth-Sub';
  const scan = kongLogScanner(CRED_HEADER);
  const sources = ['auto', 'credential', 'consumer', 'header'] as const;
  const scalar = fc.oneof(
    fc.string(),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.constant('0x1F'),
    fc.constant(' 42 '),
    fc.constant(''),
    fc.constant('true'),
  );
  const any = fc.oneof(scalar, fc.jsonValue({ maxDepth: 2 }));
  const field = fc.option(any, { nil: undefined });
  const keyCase = fc.constantFrom(
    'host',
    'Host',
    'HOST',
    'x-auth-sub',
    'X-AUTH-SUB',
    'x-auth-sub\u212a',
    'hos\u0074',
    'x-anonymous-consumer',
    'X-Anonymous-Consumer',
  );
  const logArb = fc.record({
    ip: fc.oneof(fc.ipV4(), fc.ipV6(), fc.constant('::ffff:10.0.0.1'), fc.string()),
    status: fc.oneof(fc.integer({ min: 100, max: 599 }), fc.integer()),
    ts: fc.oneof(fc.integer({ min: 0, max: 2 ** 45 }), fc.double()),
    service: fc.constantFrom('orders', 'billing', 'sérvice', 'a"b', 'a\\b', 'x\u2028y'),
    credential: fc.option(fc.string({ minLength: 1 }), { nil: undefined }),
    overrides: fc.dictionary(
      fc.constantFrom(
        'client_ip',
        'started_at',
        'namespace',
        'request_uri_host',
        'request',
        'response',
        'service',
        'route',
        'consumer',
        'authenticated_entity',
        'latencies',
        'session',
      ),
      fc.oneof(any, fc.record({ status: any }), fc.record({ status: any, headers: fc.oneof(any, fc.record({ 'grpc-status': any })) })),
      { maxKeys: 2 },
    ),
    headers: fc.array(fc.tuple(keyCase, field), { maxLength: 3 }),
    consumer: fc.option(fc.record({ username: field, custom_id: field, id: field }), { nil: undefined }),
  });
  // Byte mutations that land on what a scanner could get wrong.
  const noise = [
    0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x09, 0x0d, 0x01, 0x20, 0x30, 0x2d, 0x65, 0x2e, 0x75, 0xc3, 0xa9, 0xff, 0xe2,
  ];
  const mutation = fc.oneof(
    fc.constant({ kind: 'none' as const }),
    fc.record({ kind: fc.constant('byte' as const), at: fc.nat(), byte: fc.constantFrom(...noise), del: fc.boolean() }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('escape' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('space' as const), at: fc.nat() }),
    fc.record({
      kind: fc.constant('dup' as const),
      key: fc.constantFrom('request', 'response', 'service', 'client_ip', 'headers', 'host', 'status'),
      value: any,
    }),
    // a repeated top-level key after the first: JSON.parse keeps only the last
    fc.record({
      kind: fc.constant('last' as const),
      key: fc.constantFrom('request', 'response', 'service', 'route', 'consumer', 'latencies', 'started_at'),
      value: fc.oneof(any, fc.constant({})),
    }),
  );
  let accepted = 0;
  let clean = 0;
  fc.assert(
    fc.property(logArb, mutation, fc.boolean(), (g, m, crlf) => {
      const log = kongLogObject({ ts: 0, ip: '1.2.3.4', status: 200, service: g.service, credential: g.credential });
      Object.assign(log, { client_ip: g.ip, started_at: g.ts }, g.overrides);
      (log.response as Record<string, unknown> | undefined) !== undefined &&
        typeof log.response === 'object' &&
        log.response !== null &&
        !Array.isArray(log.response) &&
        ((log.response as Record<string, unknown>).status = g.status);
      const req = log.request;
      if (req !== null && typeof req === 'object' && !Array.isArray(req)) {
        const headers: Record<string, unknown> = {};
        for (const [k, v] of g.headers) headers[k] = v;
        (req as Record<string, unknown>).headers = { ...headers, ...((req as Record<string, unknown>).headers as object) };
      }
      if (g.consumer) log.consumer = g.consumer;
      let text = JSON.stringify(log);
      let bytes = Buffer.from(text, 'utf8');
      if (m.kind === 'byte') {
        const at = m.at % (bytes.length + 1);
        bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([m.byte]), bytes.subarray(m.del ? at + 1 : at)]);
      } else if (m.kind === 'cut') bytes = bytes.subarray(0, m.at % (bytes.length + 1));
      else if (m.kind === 'escape') {
        // write one character of a string as \uXXXX: still the same JSON
        const at = m.at % text.length;
        const q = text.indexOf('"', at);
        const c = text.charCodeAt(q + 1);
        if (q >= 0 && q + 1 < text.length && c !== 0x22 && c !== 0x5c)
          text = `${text.slice(0, q + 1)}\\u${c.toString(16).padStart(4, '0')}${text.slice(q + 2)}`;
        bytes = Buffer.from(text, 'utf8');
      } else if (m.kind === 'space') {
        const at = m.at % text.length;
        const p = text.slice(at).search(/[,:{[]/);
        if (p >= 0) text = `${text.slice(0, at + p + 1)} \t\r ${text.slice(at + p + 1)}`;
        bytes = Buffer.from(text, 'utf8');
      } else if (m.kind === 'dup') {
        const p = text.indexOf(`"${m.key}":`);
        if (p >= 0) text = `${text.slice(0, p)}"${m.key}":${JSON.stringify(m.value ?? null)},${text.slice(p)}`;
        bytes = Buffer.from(text, 'utf8');
      } else if (m.kind === 'last') {
        text = `${text.slice(0, -1)},"${m.key}":${JSON.stringify(m.value ?? null)}}`;
        bytes = Buffer.from(text, 'utf8');
      } else clean++;
      // The line inside a bigger buffer, followed by its line end and more: the scanner must stop at `to`.
      const before = Buffer.from('{"x":1}\n');
      const after = Buffer.from(crlf ? '\r\n}]"0' : '\n}]"0');
      const buf = Buffer.concat([before, bytes, after]);
      const from = before.length;
      const to = from + bytes.length;
      const small = scan(buf, from, to);
      let parsed: unknown;
      let threw = false;
      try {
        parsed = JSON.parse(buf.toString('utf8', from, to));
      } catch {
        threw = true;
      }
      if (m.kind === 'none') assert.notEqual(small, undefined, `a clean line is scanned: ${text.slice(0, 200)}`);
      if (small === undefined) return;
      accepted++;
      assert.equal(threw, false, `accepted a line JSON.parse rejects: ${JSON.stringify(bytes.toString('latin1'))}`);
      assert.ok(parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed), 'accepted a line that is not one object');
      for (const credentialSource of sources) {
        for (const hashCredentials of [false, true]) {
          const o = { credentialSource, credentialHeader: CRED_HEADER, hashCredentials };
          assert.deepEqual(recordFromKongLog(small, o), recordFromKongLog(parsed, o), `${credentialSource}: ${bytes.toString('utf8')}`);
        }
      }
      assert.equal(missingFields(small), missingFields(parsed));
      assert.equal(isStreamLog(small), isStreamLog(parsed), 'stream logs recognised alike');
    }),
    { numRuns: 3000, seed: 20261126 },
  );
  assert.ok(clean > 100 && accepted > clean, `lines scanned: ${accepted} (clean ${clean})`);
});

// issue 16 (1, 4): replay maps like the plugin and /v1/kong-log, on both of its paths (the line scanner and JSON.parse of arrays).
test('replay: the anonymous consumer is no credential; stream-subsystem logs are counted as stream, not as bad lines', {
  timeout: 60_000,
}, async (t) => {
  const dir = tmp(t);
  const base = END - 60_000;
  const anon = Array.from({ length: 6 }, (_, i) =>
    anonymousKongLog({ service: 'open', ip: `198.51.100.${i + 1}`, startedAt: base + i * 1000 }),
  );
  const real = Array.from({ length: 6 }, (_, i) =>
    kongLog({ service: 'open', consumer: 'acme', credentialId: 'cred-1', ip: `198.51.100.${i + 1}`, startedAt: base + i * 1000 + 1 }),
  );
  const streams = [kongStreamLog({ startedAt: base }), kongStreamLog({ startedAt: base + 10 })];
  const file = path.join(dir, 'mixed.log');
  // one object per line (the scanner), and an http-log batch as one array line (JSON.parse)
  writeFileSync(
    file,
    `${[...anon, ...real.slice(0, 3), streams[0]].map((l) => JSON.stringify(l)).join('\n')}\n${JSON.stringify([...real.slice(3), streams[1]])}\n`,
  );
  const run = await runCli(['replay', '--json', '--quiet', '--credential-min-ips', '3', '--no-hash-credentials', file]);
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout);
  assert.equal(report.records, 12);
  assert.equal(report.bad_lines, 0, 'stream logs are no bad lines');
  assert.equal(report.rejected.stream, 2);
  const shared = report.findings.filter((f: any) => f.type === 'credential_ips');
  assert.deepEqual(
    shared.map((f: any) => f.credential),
    ['cred-1'],
    'the real credential only, never the anonymous consumer',
  );
});

// red team 2: a long credential header, raw, had the client's every record refused as "length"
test('replay: a credential over 256 code points is fingerprinted whole, hashing on or off, as the plugin does', {
  timeout: 60_000,
}, async (t) => {
  const dir = tmp(t);
  const base = END - 60_000;
  const long = (i: number) => `${'z'.repeat(300)}${i % 2}`;
  const guesses = Array.from({ length: 30 }, (_, i) =>
    kongLog({
      ip: i < 20 ? '198.51.100.7' : `198.51.100.${20 + i}`,
      startedAt: base + i * 100,
      status: 401,
      consumer: null,
      headers: { 'x-auth-sub': long(i) },
    }),
  );
  const file = path.join(dir, 'long.log');
  writeFileSync(file, `${guesses.map((l) => JSON.stringify(l)).join('\n')}\n`);
  const mapped = (hashCredentials: boolean) =>
    recordFromKongLog(guesses[0], { credentialSource: 'auto', credentialHeader: 'x-auth-sub', hashCredentials, hashKey: 'rk' })?.credential;
  for (const flag of ['--no-hash-credentials', '--hash-credentials']) {
    const run = await runCli(['replay', '--json', '--quiet', flag, file], { env: { SIEM_HASH_KEY: 'rk' } });
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.equal(report.records, 30, flag);
    const types = report.findings.map((f: any) => `${f.type} ${f.ip ?? f.credential}`);
    assert.ok(types.includes('error_ip 198.51.100.7'), `${flag}: ${types.join(', ')}`);
    // the fingerprint the plugin and /v1/kong-log give: of the raw value, once, with either setting
    assert.ok(types.includes(`credential_ips ${mapped(flag === '--hash-credentials')}`), `${flag}: ${types.join(', ')}`);
  }
  assert.equal(mapped(true), mapped(false));
});

// issue 16 (2)
test('replay refuses authorization as the credential header (usage error): Kong logs it as REDACTED', async () => {
  const run = await runCli(['replay', '--credential-source', 'header', '--credential-header', 'Authorization', '-'], { input: '' });
  assert.equal(run.code, 2);
  assert.match(run.stderr, /REDACTED/);
});
