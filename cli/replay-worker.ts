// A replay parser thread: blocks of whole lines in (their buffers moved, not
// copied), what cli/replay-lines.ts makes of them out, packed
// (cli/replay-packed.ts), in the order they came.
import { parentPort, workerData } from 'node:worker_threads';
import { lineMapper, type LineOptions } from './replay-lines';
import { pack } from './replay-packed';

const map = lineMapper(workerData as LineOptions);
const port = parentPort;
if (!port) throw new Error('replay-worker runs as a worker thread of kong-siem replay');
port.on('message', (m: { buf: ArrayBuffer; length: number }) => {
  const packed = pack(map(Buffer.from(m.buf, 0, m.length), 0, m.length));
  // the block's buffer goes back too, to be read into again
  port.postMessage({ packed, buf: m.buf }, [packed.ts.buffer as ArrayBuffer, packed.ints.buffer as ArrayBuffer, m.buf]);
});
