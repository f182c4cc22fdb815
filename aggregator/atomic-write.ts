// Files the aggregator keeps (state snapshot, decisions) are replaced whole:
// written to a temp file in the same folder, fsynced, then renamed over the
// old one, so a crash mid-write leaves the previous file intact.
import { open, rename, rm } from 'node:fs/promises';

/** Writes `chunks` to `file` atomically; returns the bytes written. */
export async function writeFileAtomic(file: string, chunks: Iterable<string>): Promise<number> {
  const tmp = `${file}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w', 0o600);
  let bytes = 0;
  try {
    for (const c of chunks) bytes += (await fh.write(c)).bytesWritten;
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
