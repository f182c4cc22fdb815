// A full disk while saving: the snapshot (and the decisions file) are
// replaced whole or not at all. On a small tmpfs made for the test, a save
// that runs out of room mid-file must fail and leave the last good file as it
// was: write(2) then writes part of a chunk without an error, and a writer
// taking that as done renamed a truncated snapshot over the good one.
// Needs root (mount): without it the test fails with the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postJson, startAggregator } from '../helpers/aggregator';
import { writeFileAtomic } from '../../aggregator/atomic-write';

const T0 = 1_717_799_280_000;

/**
 * A tmpfs of `size` mounted for the test, unmounted after it, once `closing`
 * (aggregators still open when an assertion failed) is done.
 */
function smallDisk(t: { after(fn: () => Promise<void>): void }, size: string, closing: (() => Promise<unknown>)[] = []): string {
  if (process.getuid?.() !== 0) throw new Error('the full-disk test mounts a small tmpfs: run the tests as root');
  const dir = mkdtempSync(join(tmpdir(), 'siem-fulldisk-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot mount a tmpfs on ${dir} (mount -t tmpfs): ${r.stderr.trim() || r.error?.message}`);
  t.after(async () => {
    for (const close of closing) await close().catch(() => {});
    spawnSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Fill the file system of `dir` until `left` bytes are free. */
function fillUntil(dir: string, left: number): void {
  const s = statfsSync(dir);
  const free = s.bavail * s.bsize;
  assert.ok(free > left, `only ${free} bytes free, wanted ${left} left`);
  writeFileSync(join(dir, 'filler'), Buffer.alloc(free - left));
}

function records(from: number, n: number) {
  const out = [];
  for (let i = from; i < from + n; i++)
    out.push({ ts: T0 + i, ip: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, status: 200, service: 'orders' });
  return out;
}

test('writeFileAtomic on a disk that fills up during the last chunk: it fails, the old file stays whole, no temp file is left', async (t) => {
  const dir = smallDisk(t, '1m');
  const file = join(dir, 'state');
  writeFileSync(file, 'OLD GOOD FILE\n');
  fillUntil(dir, 300 * 1024);
  // the first chunk fits, the second only in part: write(2) writes part of it and reports no error
  await assert.rejects(writeFileAtomic(file, [Buffer.alloc(200 * 1024, 65), Buffer.alloc(200 * 1024, 66)]), /ENOSPC/);
  assert.equal(readFileSync(file, 'utf8'), 'OLD GOOD FILE\n');
  assert.deepEqual(readdirSync(dir).sort(), ['filler', 'state']);
});

test('a state snapshot on a full disk fails and keeps the last good snapshot: the restart restores every key of it', async (t) => {
  const open: (() => Promise<unknown>)[] = [];
  const dir = smallDisk(t, '8m', open);
  const file = join(dir, 'state.ndjson');
  const env = { SIEM_CLOCK: 'event', SIEM_STATE_FILE: file, SIEM_LOG_LEVEL: 'error' };
  const errors: string[] = [];
  const a = await startAggregator(env, { onLog: (l) => errors.push(String(l.msg)) });
  open.push(() => a.close());
  assert.equal((await postJson(`${a.url}/v1/records`, { records: records(0, 5000) })).body.accepted, 5000);
  const first = await a.persistence.snapshot();
  assert.equal(first?.keys, 5000);
  const good = readFileSync(file);
  // room for all but the last 64 KiB of a snapshot one key larger
  fillUntil(dir, good.length - 64 * 1024);
  assert.equal((await postJson(`${a.url}/v1/records`, { records: records(5000, 1) })).body.accepted, 1);
  assert.equal(await a.persistence.snapshot(), undefined, 'the save reports failure');
  assert.ok(errors.includes('state snapshot failed'), errors.join(' | '));
  assert.ok(readFileSync(file).equals(good), 'the last good snapshot is untouched');
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.includes('.tmp-')),
    [],
    'no temp file left',
  );
  // the save at shutdown meets the same full disk
  await a.close();
  rmSync(join(dir, 'filler'));
  const b = await startAggregator(env);
  open.push(() => b.close());
  const restored = (await b.state.gauges()).trackedKeys;
  await b.close();
  assert.equal(restored, 5000);
});
