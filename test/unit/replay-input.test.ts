// replay's reads of a regular file into moved buffers (cli/replay-input.ts
// reservedChunks), READS_AHEAD at their own offsets: short reads anywhere
// (a file Kong is still writing, read at its end) lose and repeat no byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { promises as fsp } from 'node:fs';
import fc from 'fast-check';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { decoded, reservedChunks } from '../../cli/replay-input';

/** A regular file's handle whose reads return at most `most(call)` bytes. */
function shortReads(data: Buffer, most: (call: number) => number): fsp.FileHandle {
  let calls = 0;
  const fh = {
    stat: async () => ({ isFile: () => true }),
    read: async (buf: Buffer, off: number, len: number, pos: number | null) => {
      if (pos === null) throw new Error('a regular file is read at offsets');
      const n = Math.max(0, Math.min(len, most(calls++), data.length - pos));
      data.copy(buf, off, pos, pos + n);
      return { bytesRead: n, buffer: buf };
    },
  };
  return fh as unknown as fsp.FileHandle;
}

async function readAll(fh: fsp.FileHandle, size: number, reserve: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let counted = 0;
  for await (const c of reservedChunks(
    fh,
    (n) => (counted += n),
    () => new ArrayBuffer(size),
    reserve,
  ))
    parts.push(Buffer.from(c));
  const all = Buffer.concat(parts);
  assert.equal(counted, all.length, 'bytes counted as yielded');
  return all;
}

// review finding: after one short read, each later one moved the next read on by a whole buffer
test('short reads (a file still written) lose and repeat no byte: every read at most 7 bytes', async () => {
  const data = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyzABCD');
  assert.equal(
    (
      await readAll(
        shortReads(data, () => 7),
        16,
        4,
      )
    ).toString(),
    data.toString(),
  );
});

test('short reads at random sizes and places give the file as it is', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ minLength: 0, maxLength: 400 }),
      fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 20 }),
      fc.integer({ min: 9, max: 48 }),
      async (bytes, sizes, size) => {
        const data = Buffer.from(bytes);
        // a read of 0 bytes is the end of the file: only at the end here
        const most = (call: number) => Math.max(1, sizes[call % sizes.length] as number);
        assert.deepEqual(await readAll(shortReads(data, most), size, 8), data);
      },
    ),
    { numRuns: 300 },
  );
});

// review of 2ffb121: a pipe's first read may hold one byte (a writer that flushed it alone), and gzip was told by the first read only
test('a stream whose gzip magic comes split over its first reads is gunzipped; a one-byte plain stream stays as it is', async () => {
  const text = '{"client_ip":"192.0.2.1"}\n'.repeat(50);
  const gz = gzipSync(text);
  const collect = async (chunks: Buffer[]) => {
    let bytes = 0;
    const out: Buffer[] = [];
    for await (const c of decoded(Readable.from(chunks), (n) => (bytes += n))) out.push(c);
    return { text: Buffer.concat(out).toString(), bytes };
  };
  for (const at of [1, 2, 3]) {
    const got = await collect([gz.subarray(0, 1), gz.subarray(1, at + 1), gz.subarray(at + 1)].filter((c) => c.length > 0));
    assert.equal(got.text, text, `gzip split after byte 1, then ${at}`);
    assert.equal(got.bytes, gz.length, 'every stored byte counted once');
  }
  assert.deepEqual(await collect([Buffer.from('x')]), { text: 'x', bytes: 1 });
  assert.deepEqual(await collect([Buffer.from([0x1f])]), { text: '\u001f', bytes: 1 });
  assert.deepEqual(await collect([Buffer.from('a'), Buffer.from('bc\n')]), { text: 'abc\n', bytes: 4 });
});
