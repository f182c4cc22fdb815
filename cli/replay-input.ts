// Reading replay's input: which files can be read and their total size,
// and their bytes, plain or gunzipped, in bounded chunks.
import { constants, promises as fsp } from 'node:fs';
import { Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';

/** The file name that means standard input. */
export const STDIN = '-';

/** Check every file before spending time on the first: their total size, and those that cannot be read. */
export async function checkFiles(files: readonly string[]): Promise<{ totalBytes: number | undefined; unreadable: Map<string, string> }> {
  let total = 0;
  let known = true;
  const unreadable = new Map<string, string>();
  for (const f of files) {
    if (f === STDIN) {
      known = false;
      continue;
    }
    try {
      await fsp.access(f, constants.R_OK);
      const st = await fsp.stat(f);
      if (st.isDirectory()) unreadable.set(f, 'is a directory');
      else if (st.isFile()) total += st.size;
      else known = false; // a FIFO or /dev/stdin: size unknown
    } catch (err) {
      unreadable.set(f, `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return { totalBytes: known ? total : undefined, unreadable };
}

export const CHUNK_BYTES = 1 << 20;
/**
 * Read chunks with parser threads (--workers > 1): each is a block handed to
 * a thread, and blocks wait in flight, so half a chunk holds half the
 * buffers (500k lines, --workers 2: 114-117 MB peak RSS against 122-128 MB
 * with 1 MiB).
 */
export const POOL_CHUNK_BYTES = 512 * 1024;

/**
 * A plain file's bytes in two buffers, used in turn: the next read is under
 * way while the caller works on the last, and memory stays at two chunks
 * (a read stream's fresh 1 MiB buffers wait for a GC to go: +80 MB RSS). A
 * chunk is valid until the next one is asked for.
 */
export async function* plainChunks(fh: fsp.FileHandle, onBytes: (n: number) => void, size = CHUNK_BYTES): AsyncGenerator<Buffer> {
  let cur = Buffer.allocUnsafe(size);
  let next = Buffer.allocUnsafe(size);
  let reading = fh.read(cur, 0, size, null);
  for (;;) {
    const { bytesRead } = await reading;
    if (bytesRead === 0) return;
    reading = fh.read(next, 0, size, null);
    onBytes(bytesRead);
    yield cur.subarray(0, bytesRead);
    [cur, next] = [next, cur];
  }
}

/** Reads reservedChunks keeps under way at once: with every core parsing, a read waits for one. */
const READS_AHEAD = 3;

/**
 * plainChunks for parser threads: each read into a fresh buffer from
 * `buffer()`, after `reserve` bytes left for the caller (the unfinished
 * line before it), the buffer the caller's to keep, give or recycle. A
 * regular file is read READS_AHEAD chunks ahead, each at its own offset
 * (the thread pool's reads of a shared file position could land out of
 * order); anything else one chunk ahead.
 */
export async function* reservedChunks(
  fh: fsp.FileHandle,
  onBytes: (n: number) => void,
  buffer: () => ArrayBuffer,
  reserve: number,
): AsyncGenerator<Buffer> {
  const regular = (await fh.stat()).isFile();
  let pos = 0;
  const reads: { buf: Buffer; at: number; read: Promise<{ bytesRead: number }> }[] = [];
  const issue = () => {
    const buf = Buffer.from(buffer(), reserve);
    const read = fh.read(buf, 0, buf.length, regular ? pos : null);
    read.catch(() => undefined); // thrown where it is awaited, if it is
    reads.push({ buf, at: pos, read });
    pos += buf.length;
  };
  for (let k = 0; k < (regular ? READS_AHEAD : 1); k++) issue();
  for (;;) {
    const r = reads.shift() as (typeof reads)[number];
    const { bytesRead } = await r.read;
    if (bytesRead === 0) return;
    if (regular && bytesRead < r.buf.length) {
      // short (the end of the file, which may still grow): the reads issued after it are at the wrong offsets, and so is pos
      for (const later of reads.splice(0)) await later.read.catch(() => undefined);
      pos = r.at + bytesRead;
    }
    while (reads.length < (regular ? READS_AHEAD : 1)) issue();
    onBytes(bytesRead);
    yield r.buf.subarray(0, bytesRead);
  }
}

export async function isGzip(fh: fsp.FileHandle): Promise<boolean> {
  const head = Buffer.alloc(2);
  const { bytesRead } = await fh.read(head, 0, 2, 0);
  return bytesRead === 2 && head[0] === 0x1f && head[1] === 0x8b;
}

/** The stored bytes of `src`, gunzipped when they start with the gzip magic. */
export async function* decoded(src: Readable, onBytes: (n: number) => void): AsyncGenerator<Buffer> {
  const it = src[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first = await it.next();
  if (first.done) return;
  let head = first.value;
  // A pipe's first read may hold a single byte (its writer flushed it alone): the magic takes two.
  while (head.length < 2) {
    const n = await it.next();
    if (n.done) break;
    head = Buffer.concat([head, n.value]);
  }
  async function* raw(): AsyncGenerator<Buffer> {
    onBytes(head.length);
    yield head;
    for (;;) {
      const n = await it.next();
      if (n.done) return;
      onBytes(n.value.length);
      yield n.value;
    }
  }
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
    const gz = createGunzip({ chunkSize: 256 * 1024 });
    // Errors of either side end up on gz, whose iteration then throws.
    pipeline(Readable.from(raw()), gz, () => {});
    yield* gz as AsyncIterable<Buffer>;
  } else {
    yield* raw();
  }
}
