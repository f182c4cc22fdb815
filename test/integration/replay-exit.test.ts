// `kong-siem replay`'s exit codes and messages (docs/cli.md): 3 with a hint
// when nothing was a Kong log; bad lines shown up to a cap, then counted; a
// hint at file order when many records are late; an array line counts as
// one line however many of its entries are refused; --json prints its
// report on a usage error too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BAD_LINES_SHOWN } from '../../cli/replay';
import { kongLogObject } from '../../cli/kong-traffic';
import { runCli } from '../helpers/cli';

const END = Date.parse('2024-06-07T22:10:00Z');

function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'kong-siem-replay-exit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const log = (i: number, ts = END + i) =>
  JSON.stringify(kongLogObject({ ts, ip: `10.0.${(i >> 8) & 255}.${i & 255}`, status: 200, service: 'orders' }));

test('nothing was a Kong log: exit 3 with a hint of the format, the report still printed', async (t) => {
  const dir = tmp(t);
  const nginx = path.join(dir, 'access.log');
  writeFileSync(
    nginx,
    '203.0.113.7 - - [07/Jun/2024:22:00:00 +0000] "GET / HTTP/1.1" 200 12 "-" "curl/8"\n{"level":"info","msg":"hello"}\n',
  );
  const r = await runCli(['replay', '--json', '-q', nginx]);
  assert.equal(r.code, 3, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.records, 0);
  assert.equal(report.bad_lines, 2);
  assert.deepEqual(report.findings, []);
  assert.match(r.stderr, /no line was a Kong log: expected Kong file-log \/ http-log output: one JSON log object per line/);

  const empty = path.join(dir, 'empty.log');
  writeFileSync(empty, '');
  const e = await runCli(['replay', '-q', empty]);
  assert.equal(e.code, 3);

  // Kong logs, all outside --since: still Kong logs, exit 0
  const kong = path.join(dir, 'kong.log');
  writeFileSync(kong, `${log(1)}\n`);
  const k = await runCli(['replay', '--json', '-q', '--since', String(END + 3_600_000), kong]);
  assert.equal(k.code, 0, k.stderr);
  assert.equal(JSON.parse(k.stdout).records, 0);
});

test('bad lines: the first few of each file with their line numbers, then a count', async (t) => {
  const dir = tmp(t);
  const file = path.join(dir, 'broken.log');
  const lines = [log(0)];
  for (let i = 0; i < 25; i++) lines.push(`{"not": "kong", "i": ${i}}`);
  lines.push(log(1));
  writeFileSync(file, `${lines.join('\n')}\n`);
  const other = path.join(dir, 'other.log');
  writeFileSync(other, `not json\n${log(2)}\n`);
  const r = await runCli(['replay', '--json', '-q', file, other]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).bad_lines, 26);
  const shown = r.stderr.split('\n').filter((l) => l.includes('(skipped)') && l.includes('broken.log:'));
  assert.equal(shown.length, BAD_LINES_SHOWN);
  assert.match(shown[0] as string, /broken\.log:2: not a Kong log object/);
  assert.match(r.stderr, new RegExp(`broken\\.log: ${25 - BAD_LINES_SHOWN} more bad lines not shown \\(25 in all, skipped\\)`));
  // each file has its own allowance
  assert.match(r.stderr, /other\.log:1: not JSON/);
});

test("a bad line's message prints its control characters as escapes: junk bytes cannot drive the terminal", async (t) => {
  const dir = tmp(t);
  const file = path.join(dir, 'junk.log');
  // V8's JSON.parse error quotes the line: OSC 0 (sets the title) and an erase-line inside it
  writeFileSync(file, `\u001b]0;all clear\u0007junk\n{"a": \u001b[2K}\n${log(0)}\n`);
  const r = await runCli(['replay', '--json', '-q', file]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).bad_lines, 2);
  assert.doesNotMatch(r.stderr, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/, JSON.stringify(r.stderr));
  assert.match(r.stderr, /junk\.log:1: not JSON .*\\u001b\]0;all clear\\u0007junk/);
});

test("a file name's control characters are escapes in every replay message: the report's 'Not read' line and the hidden bad lines' count", async (t) => {
  const dir = tmp(t);
  // a name an operator's glob may pick up from a log directory others write to: OSC 0 (sets the title), an erase-line
  const odd = (what: string) => path.join(dir, `${what}\u001b]0;all clear\u0007\u001b[2K.log`);
  writeFileSync(odd('junk'), `${Array.from({ length: BAD_LINES_SHOWN + 2 }, () => 'junk').join('\n')}\n${log(0)}\n`);
  const r = await runCli(['replay', odd('missing'), odd('junk')]);
  assert.equal(r.code, 1, r.stderr);
  const controls = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;
  assert.doesNotMatch(r.stdout, controls, JSON.stringify(r.stdout));
  assert.doesNotMatch(r.stderr, controls, JSON.stringify(r.stderr));
  assert.match(r.stdout, /Not read to the end: .*missing\\u001b\]0;all clear\\u0007\\u001b\[2K\.log \(cannot read: ENOENT\)/);
  assert.match(r.stderr, /junk\\u001b\]0;all clear\\u0007\\u001b\[2K\.log: 2 more bad lines not shown/);
});

test('an array line counts as one bad line, however many entries it has', async (t) => {
  const dir = tmp(t);
  const file = path.join(dir, 'arrays.log');
  writeFileSync(file, ['[1,2]', `[${log(1)},{"x":1},3]`, '[]', `[${log(2)},${log(3)}]`].join('\n'));
  const r = await runCli(['replay', '--json', '-q', file]);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.records, 3);
  assert.equal(report.bad_lines, 3, 'lines 1, 2 and 3');
  assert.match(r.stderr, /arrays\.log:1: 2 of 2 entries of this array refused; the first: not a Kong log object/);
  assert.match(r.stderr, /arrays\.log:2: 2 of 3 entries of this array refused/);
});

test('many late records: a hint to give the files oldest first; none in order', async (t) => {
  const dir = tmp(t);
  // two files two hours apart: the older one is all late when read second
  const older = path.join(dir, 'access.log.1');
  const newer = path.join(dir, 'access.log');
  writeFileSync(older, Array.from({ length: 200 }, (_, i) => log(i, END - 7_200_000 + i * 100)).join('\n'));
  writeFileSync(newer, Array.from({ length: 200 }, (_, i) => log(i, END + i * 100)).join('\n'));
  const wrong = await runCli(['replay', '--json', '-q', newer, older]);
  assert.equal(wrong.code, 0, wrong.stderr);
  assert.equal(JSON.parse(wrong.stdout).rejected.late, 200);
  assert.match(wrong.stderr, /200 records were older than the longest window .* give the files oldest first/);
  const right = await runCli(['replay', '--json', '-q', older, newer]);
  assert.equal(right.code, 0, right.stderr);
  assert.equal(JSON.parse(right.stdout).rejected.late, 0);
  assert.doesNotMatch(right.stderr, /oldest first/);
});

test('usage errors with --json: exit 2, and stdout is still the JSON report (nothing read) with the error', async () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [['replay', '--json', '--bogus', '-'], {}, /unknown option '--bogus'/],
    [['replay', '--json', '--error-min', '0', '-'], {}, /--error-min/],
    [['replay', '--json', '--since', '2024-06-07T22:10:00Z', '--until', '2024-06-07T22:00:00Z', '-'], {}, /--until must be after --since/],
    [['replay', '--json', '-'], { SIEM_ERROR_MIN: 'many' }, /invalid configuration/],
  ];
  for (const [args, env, message] of cases) {
    const r = await runCli(args, { env, input: `${log(1)}\n` });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    const report = JSON.parse(r.stdout);
    assert.equal(report.records, 0, args.join(' '));
    assert.equal(report.bad_lines, 0);
    assert.deepEqual(report.findings, []);
    assert.match(report.error, message);
  }
  // without --json a usage error prints no report
  const plain = await runCli(['replay', '--bogus', '-'], { input: '' });
  assert.equal(plain.code, 2);
  assert.equal(plain.stdout, '');
});
