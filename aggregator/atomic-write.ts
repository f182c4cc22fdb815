// Files the aggregator keeps (state snapshot, decisions) are replaced whole:
// written to a fresh temp file in the same folder, fsynced, then renamed over
// the old one, so a crash mid-write leaves the previous file intact. The temp
// file is created exclusively and never through a symlink (O_EXCL |
// O_NOFOLLOW, random name): a link planted there cannot redirect the write.
// A killed writer's temp files are removed by `removeLeftovers` at start.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

const TEMP_INFIX = '.tmp-';

/**
 * Writes `chunks` to `file` atomically; returns the bytes written. Chunks may
 * come from an async iterable that makes each one while the previous is
 * written. `finalHead`, when given, is called once every chunk is written and
 * its text written over the file's start (a header completed at the end: as
 * many bytes as what it replaces).
 */
export async function writeFileAtomic(
  file: string,
  chunks: Iterable<string | Uint8Array> | AsyncIterable<string | Uint8Array>,
  finalHead?: () => string,
): Promise<number> {
  const tmp = `${file}${TEMP_INFIX}${process.pid}-${randomBytes(6).toString('hex')}`;
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
  const fh = await open(tmp, flags, 0o600);
  let bytes = 0;
  try {
    // each chunk written whole before the next is asked for (a chunk's buffer may be reused then)
    for await (const c of chunks) bytes += await writeAll(fh, typeof c === 'string' ? Buffer.from(c) : c, bytes);
    if (finalHead) await writeAll(fh, Buffer.from(finalHead()), 0);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => {});
    await rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  await rename(tmp, file);
  return bytes;
}

/**
 * Write all of `b` at `position`; returns its length. write(2) may write less
 * than asked without an error (a disk filling up: the call after it fails
 * with ENOSPC), and node's FileHandle.write hands that on: taken as done, a
 * full disk renamed a truncated file over the last good one.
 */
async function writeAll(fh: FileHandle, b: Uint8Array, position: number): Promise<number> {
  for (let done = 0; done < b.length; ) {
    const { bytesWritten } = await fh.write(b, done, b.length - done, position + done);
    if (bytesWritten <= 0) throw Object.assign(new Error('write made no progress (disk full?)'), { code: 'ENOSPC' });
    done += bytesWritten;
  }
  return b.length;
}

/**
 * Remove temp files a killed writer left beside `file` (regular files and
 * symlinks named like ours; a symlink is removed itself, never its target).
 * Returns their names.
 */
export async function removeLeftovers(file: string): Promise<string[]> {
  const dir = dirname(file);
  const prefix = basename(file) + TEMP_INFIX;
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const path = join(dir, name);
    try {
      const st = await lstat(path);
      if (!st.isFile() && !st.isSymbolicLink()) continue;
      await rm(path);
      removed.push(name);
    } catch {
      /* gone meanwhile, or not ours to remove */
    }
  }
  return removed;
}
