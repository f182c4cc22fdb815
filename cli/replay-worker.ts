// A replay parser thread: blocks of whole lines in (their buffers moved, not
// copied), what cli/replay-lines.ts makes of them out, packed
// (cli/replay-packed.ts), in the order they came.
import { parentPort, workerData } from 'node:worker_threads';
import { lineMapper } from './replay-lines';
import { pack } from './replay-packed';
import type { WorkerInput } from './replay-pool';

const { o, done } = workerData as WorkerInput;
const map = lineMapper(o);
const port = parentPort;
if (!port) throw new Error('replay-worker runs as a worker thread of kong-siem replay');
port.on('message', (m: { buf: ArrayBuffer; offset: number; length: number }) => {
  const packed = pack(map(Buffer.from(m.buf, m.offset, m.length), 0, m.length));
  // counted before the answer, which the main thread reads only when it waits
  Atomics.add(done, 0, 1);
  // the block's buffer goes back too, to be read into again
  port.postMessage({ packed, buf: m.buf }, [packed.ts.buffer as ArrayBuffer, packed.ints.buffer as ArrayBuffer, m.buf]);
});
