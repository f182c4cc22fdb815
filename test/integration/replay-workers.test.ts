// replay --workers: parser threads give exactly the report of one thread, bad
// lines included (same numbers, same reasons, same order), over several
// files (plain, gzip, a last line without its newline) spanning many read
// chunks, with lines that take the slow path (arrays, not JSON, blank, CRLF,
// stream logs, records too far ahead of the clock, --since filtering).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { kongLogObject, scenario } from '../../cli/kong-traffic';
import { MAX_LINE_BYTES, replay, type BadLine, type ReplayResult } from '../../cli/replay';
import { CHUNK_BYTES, POOL_CHUNK_BYTES } from '../../cli/replay-input';
import { BLOCK_RESERVE } from '../../cli/replay-pool';
import { DEFAULT_RECORD_OPTIONS } from '../../common/kong-log';
import { DEFAULT_SETTINGS } from '../../common/settings';
import { kongStreamLog } from '../helpers/kong-log-fixture';
import { runCli } from '../helpers/cli';

const END = Date.parse('2024-06-07T22:10:00Z');

function input(dir: string): string[] {
  const logs = scenario({ endMs: END, benign: 9_500, spanMs: 600_000, seed: 11 }).map((r) => JSON.stringify(kongLogObject(r)));
  const odd = (i: number): string | undefined => {
    if (i === 1000) {
      // a day ahead of the log's clock: set aside as "future", its line named (one: a second would confirm the jump)
      const o = JSON.parse(logs[i] as string) as { started_at: number };
      return JSON.stringify({ ...o, started_at: o.started_at + 86_400_000 });
    }
    switch (i % 397) {
      case 5:
        return '{"not json';
      case 17:
        return '';
      case 29:
        return `[${logs[i]},{"client_ip":"x"},7]`;
      case 41:
        return '[]';
      case 53:
        return JSON.stringify(kongStreamLog());
      case 67:
        return `${logs[i]}\r`;
      case 79:
        return '{"client_ip":"192.0.2.1","started_at":1,"response":{"status":999}}';
      default:
        return undefined;
    }
  };
  const lines = logs.map((l, i) => odd(i) ?? l);
  const third = Math.floor(lines.length / 3);
  const files = [path.join(dir, 'a.log'), path.join(dir, 'b.log.gz'), path.join(dir, 'c.log')];
  writeFileSync(files[0] as string, `${lines.slice(0, third).join('\n')}\n`);
  writeFileSync(files[1] as string, gzipSync(`${lines.slice(third, 2 * third).join('\n')}\n`));
  // the last line without its newline
  writeFileSync(files[2] as string, lines.slice(2 * third).join('\n'));
  const bytes = lines.join('\n').length;
  assert.ok(bytes > 8 * CHUNK_BYTES, `${bytes} bytes: many read chunks per file`);
  return files;
}

async function run(
  files: string[],
  workers: number,
  since?: number,
): Promise<{ result: Omit<ReplayResult, 'elapsed_ms'>; bad: BadLine[]; hidden: string[] }> {
  const bad: BadLine[] = [];
  const hidden: string[] = [];
  const r = await replay(
    {
      files,
      settings: DEFAULT_SETTINGS,
      record: { ...DEFAULT_RECORD_OPTIONS, hashKey: 'workers-key' },
      ipv6Prefix: 64,
      maxKeys: 100_000,
      maxServices: 100,
      maxFindings: 1000,
      credentialMaxIps: 100,
      workers,
      ...(since !== undefined ? { since } : {}),
    },
    { onBadLine: (b) => bad.push(b), onBadLinesHidden: (f, h, t) => hidden.push(`${f} ${h} ${t}`) },
  );
  const { elapsed_ms: _, ...result } = r;
  return { result, bad, hidden };
}

test('replay with parser threads gives exactly what one thread gives', { timeout: 180_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kong-siem-replay-workers-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const files = input(dir);
  const one = await run(files, 1);
  // the input does exercise what it is meant to
  assert.ok(one.result.records > 9_000, `${one.result.records} records`);
  assert.ok(one.result.bad_lines >= 100, `${one.result.bad_lines} bad lines`);
  assert.ok(
    one.result.rejected.stream > 0 && one.result.rejected.future > 0 && one.result.findings.length > 0 && one.result.history.length > 0,
  );
  assert.ok(
    one.bad.some((b) => b.line === 1001 && /\(future\)$/.test(b.reason)),
    'the future line named',
  );
  for (const workers of [2, 3]) {
    const many = await run(files, workers);
    assert.deepEqual(many.result, one.result, `--workers ${workers}`);
    assert.deepEqual(many.bad, one.bad, `--workers ${workers}: bad lines`);
    assert.deepEqual(many.hidden, one.hidden);
  }
  const since = END - 300_000;
  assert.deepEqual((await run(files, 3, since)).result, (await run(files, 1, since)).result, '--since');
});

test('the CLI takes --workers and reports alike', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kong-siem-replay-workers-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const files = input(dir);
  const env = { SIEM_HASH_KEY: 'workers-key' };
  const [a, b] = await Promise.all([
    runCli(['replay', '--json', '--quiet', '--workers', '1', ...files], { env }),
    runCli(['replay', '--json', '--quiet', '--workers', '2', ...files], { env }),
  ]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  const strip = (s: string) => ({ ...JSON.parse(s), elapsed_ms: 0 });
  assert.deepEqual(strip(b.stdout), strip(a.stdout));
  assert.equal(b.stderr, a.stderr);
  const bad = await runCli(['replay', '--workers', '0', ...files], { env });
  assert.equal(bad.code, 2, bad.stderr);
});

test('long lines with parser threads: past the room kept before a read, across reads, over the limit', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kong-siem-replay-workers-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const logs = scenario({ endMs: END, benign: 3_000, spanMs: 600_000, seed: 5 }).map((r) => kongLogObject(r));
  // a Kong log line of about `bytes` (a long request header, which replay does not read)
  const padded = (i: number, bytes: number) => {
    const o = logs[i] as { request: { headers: Record<string, string> } };
    return JSON.stringify({ ...o, request: { ...o.request, headers: { ...o.request.headers, 'x-pad': 'p'.repeat(bytes) } } });
  };
  const lines = logs.map((l) => JSON.stringify(l));
  lines[700] = padded(700, BLOCK_RESERVE + 1000);
  lines[1400] = padded(1400, POOL_CHUNK_BYTES + 200_000);
  lines[1401] = padded(1401, 2 * BLOCK_RESERVE);
  lines[2100] = `{"pad":"${'p'.repeat(MAX_LINE_BYTES + 2 * CHUNK_BYTES)}"}`;
  const file = path.join(dir, 'long.log');
  writeFileSync(file, `${lines.join('\n')}\n`);
  const one = await run([file], 1);
  assert.equal(one.result.bad_lines, 1);
  assert.deepEqual(one.bad, [{ file, line: 2101, reason: `line over ${MAX_LINE_BYTES} bytes` }]);
  assert.equal(one.result.kong_logs, lines.length - 1);
  const two = await run([file], 2);
  assert.deepEqual(two.result, one.result);
  assert.deepEqual(two.bad, one.bad);
});

test('files read ahead by a parser thread: smaller than one read, exactly two reads long', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'kong-siem-replay-workers-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const lines = scenario({ endMs: END, benign: 1_500, spanMs: 600_000, seed: 7 }).map((r) => JSON.stringify(kongLogObject(r)));
  const small = path.join(dir, 'small.log');
  writeFileSync(small, `${lines.slice(0, 10).join('\n')}\n`);
  // whole lines up to two reads, the last padded with spaces (JSON whitespace) to the byte
  let text = '';
  let k = 0;
  while (Buffer.byteLength(text) + (lines[k] as string).length + 1 < 2 * POOL_CHUNK_BYTES - 2000) text += `${lines[k++]}\n`;
  const last = lines[k] as string;
  text += `${last}${' '.repeat(2 * POOL_CHUNK_BYTES - Buffer.byteLength(text) - last.length - 1)}\n`;
  const exact = path.join(dir, 'exact.log');
  writeFileSync(exact, text);
  assert.equal(Buffer.byteLength(text), 2 * POOL_CHUNK_BYTES);
  for (const [files, n] of [
    [[small], 10],
    [[exact], k + 1],
    [[small, exact, small], 20 + k + 1],
  ] as const) {
    const one = await run([...files], 1);
    assert.equal(one.result.records, n);
    const two = await run([...files], 2);
    assert.deepEqual(two.result, one.result);
    assert.deepEqual(two.bad, one.bad);
  }
});
