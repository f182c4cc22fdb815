// Issue 13.7: the snapshot file against its own folder. Temp files are
// created exclusively and never through a symlink, a killed writer's temp
// files are removed at start, an oversized line is refused (not a crash) and
// an entry that cannot be restored is skipped alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postJson, startAggregator } from '../helpers/aggregator';
import { SNAPSHOT_LINE_MAX } from '../../common/limits';

const T0 = 1_717_799_280_000;

function tmp(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'siem-snapfile-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function records(n: number) {
  const out = [];
  for (let i = 0; i < n; i++) out.push({ ts: T0 + i, ip: `10.0.${i >> 8}.${i & 255}`, status: 200, service: 'orders' });
  return out;
}

/** A snapshot of `n` IP keys written by a real aggregator; returns its lines. */
async function goodSnapshot(file: string, n: number): Promise<string[]> {
  const a = await startAggregator({ SIEM_CLOCK: 'event', SIEM_STATE_FILE: file });
  assert.equal((await postJson(`${a.url}/v1/records`, { records: records(n) })).body.accepted, n);
  await a.close();
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '');
}

async function restoredKeys(file: string, warnings: string[] = []): Promise<number> {
  const b = await startAggregator(
    { SIEM_CLOCK: 'event', SIEM_STATE_FILE: file, SIEM_LOG_LEVEL: 'warn' },
    { onLog: (l) => warnings.push(String(l.msg)) },
  );
  const keys = (await b.state.gauges()).trackedKeys;
  await b.app.close();
  return keys;
}

test('a symlink planted where the writer puts its temp file is never followed: its target stays untouched', async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'state.ndjson');
  const target = join(dir, 'precious.conf');
  writeFileSync(target, 'do not overwrite\n');
  const a = await startAggregator({ SIEM_CLOCK: 'event', SIEM_STATE_FILE: file });
  // planted after the start (which clears names like the writer's): the
  // name a writer in this process used to take, and a few more guesses
  for (const name of [`state.ndjson.tmp-${process.pid}`, `state.ndjson.tmp`, `state.ndjson.tmp-${process.pid}-0`])
    symlinkSync(target, join(dir, name));
  await postJson(`${a.url}/v1/records`, { records: records(3) });
  const saved = await a.persistence.snapshot();
  await a.close();
  assert.equal(saved?.keys, 3);
  assert.equal(readFileSync(target, 'utf8'), 'do not overwrite\n');
  assert.equal(statSync(file).mode & 0o777, 0o600, 'the snapshot is readable by its owner only');
});

test('temp files of a killed writer are removed at start; other files in the folder are left alone', async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'state.ndjson');
  await goodSnapshot(file, 3);
  const leftovers = ['state.ndjson.tmp-4242', 'state.ndjson.tmp-4242-0a1b2c3d4e5f'];
  for (const name of leftovers) writeFileSync(join(dir, name), '{"half": "written');
  writeFileSync(join(dir, 'other.ndjson.tmp-1'), 'not ours');
  const warnings: string[] = [];
  assert.equal(await restoredKeys(file, warnings), 3);
  const left = readdirSync(dir).sort();
  assert.ok(!left.some((n) => leftovers.includes(n)), left.join(', '));
  assert.ok(left.includes('other.ndjson.tmp-1'));
  assert.ok(
    warnings.some((w) => /removed temp files/.test(w)),
    warnings.join(' | '),
  );
});

test('an oversized snapshot line is refused, not read whole: the other entries are restored', async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'state.ndjson');
  const lines = await goodSnapshot(file, 50);
  const huge = `["ip","orders","10.9.9.9",${T0},[${'1,'.repeat(SNAPSHOT_LINE_MAX / 2 + 10)}1],-1,-1]`;
  writeFileSync(file, [lines[0], lines[1], huge, ...lines.slice(2)].join('\n') + '\n');
  const warnings: string[] = [];
  assert.equal(await restoredKeys(file, warnings), 50);
  assert.ok(
    warnings.some((w) => /unreadable lines skipped/.test(w)),
    warnings.join(' | '),
  );
});

test('an entry that cannot be restored is skipped alone, never the file: corrupt lines, a truncated end, a bad service', async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'state.ndjson');
  const lines = await goodSnapshot(file, 20);
  const header = JSON.parse(lines[0] as string);
  header.services.push({ name: 'x'.repeat(300), settings: {}, bucketMs: 1 });
  const cases: Record<string, [string[], number]> = {
    'not JSON': [[lines[0] as string, '{{{', ...lines.slice(1)], 20],
    'not an entry': [[lines[0] as string, '["ip","orders","10.0.0.1","x",[],-1,-1]', '["what"]', ...lines.slice(1)], 20],
    'name over 256 code points': [
      [lines[0] as string, JSON.stringify(['credential', 'orders', 'c'.repeat(257), T0, [], -1]), ...lines.slice(1)],
      20,
    ],
    'truncated end': [[...lines.slice(0, -1), (lines.at(-1) as string).slice(0, 10)], 19],
    'bad service in the header': [[JSON.stringify(header), ...lines.slice(1)], 20],
  };
  for (const [name, [content, keys]] of Object.entries(cases)) {
    writeFileSync(file, content.join('\n'));
    const warnings: string[] = [];
    assert.equal(await restoredKeys(file, warnings), keys, name);
    assert.ok(
      warnings.some((w) => /unreadable lines skipped/.test(w)),
      `${name}: ${warnings.join(' | ')}`,
    );
  }
  assert.ok(existsSync(file));
});

test('no save runs while the snapshot or the decisions file is read: a slow restore is not overwritten by a half-restored state (review 3)', async (t) => {
  const dir = tmp(t);
  const first = join(dir, 'first.ndjson');
  const lines = await goodSnapshot(first, 3);
  const decisionsText = readFileSync(`${first}.decisions.json`, 'utf8');
  // FIFOs stand for files that take long to read: each read waits until this test writes it
  const file = join(dir, 'state.ndjson');
  const decisions = `${file}.decisions.json`;
  execFileSync('mkfifo', [file, decisions]);
  // opened read-write (Linux): the aggregator's open does not wait, and ours stays on the FIFO even if a save renames a file over its path
  const [stateFd, decisionsFd] = [openSync(file, 'r+'), openSync(decisions, 'r+')] as [number, number];
  const logs: string[] = [];
  const starting = startAggregator(
    { SIEM_CLOCK: 'event', SIEM_STATE_FILE: file, SIEM_SNAPSHOT_INTERVAL_MS: '1000', SIEM_LOG_LEVEL: 'info' },
    { onLog: (l) => logs.push(String(l.msg)) },
  );
  // three periods of the save timers while a read waits (the start reads the decisions file, then the snapshot)
  const periods = async () => {
    for (let i = 0; i < 35; i++) await new Promise((ok) => setTimeout(ok, 100));
  };
  await periods();
  writeSync(decisionsFd, decisionsText);
  closeSync(decisionsFd);
  await periods();
  writeSync(stateFd, `${lines.join('\n')}\n`);
  closeSync(stateFd);
  const agg = await starting;
  t.after(() => agg.close());
  // before: each timer saved over the file being read, the empty decision set and the state half restored (no key at all)
  const before = (saved: string, restored: string) => {
    const at = logs.indexOf(restored);
    assert.ok(at >= 0, `${restored}: ${logs.join(', ')}`);
    return logs.slice(0, at).filter((m) => m === saved).length;
  };
  assert.equal(before('decisions written', 'decisions restored'), 0);
  assert.equal(before('state snapshot written', 'state restored'), 0);
});
