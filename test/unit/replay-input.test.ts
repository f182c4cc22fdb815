// replay's reads of a regular file into moved buffers (cli/replay-input.ts
// reservedChunks), READS_AHEAD at their own offsets: short reads anywhere
// (a file Kong is still writing, read at its end) lose and repeat no byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { promises as fsp } from 'node:fs';
import fc from 'fast-check';
import { reservedChunks } from '../../cli/replay-input';

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
