// Parser threads for replay (--workers): blocks go to the threads in turn and
// their results come back in the order the blocks were given, so the main
// thread feeds the state exactly as one thread reading the file would.
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { BlockResult, LineOptions } from './replay-lines';

interface Waiting {
  ok: (r: BlockResult) => void;
  fail: (e: Error) => void;
}

export class ParserPool {
  private readonly threads: { worker: Worker; waiting: Waiting[] }[] = [];
  private next = 0;
  private failed?: Error;

  constructor(n: number, o: LineOptions) {
    for (let i = 0; i < n; i++) {
      const worker = new Worker(path.join(__dirname, 'replay-worker.js'), { workerData: o });
      const t = { worker, waiting: [] as Waiting[] };
      // a thread answers its blocks in the order it got them
      worker.on('message', (r: BlockResult) => t.waiting.shift()?.ok(r));
      const die = (e: Error) => {
        this.failed ??= e;
        for (const w of t.waiting.splice(0)) w.fail(e);
      };
      worker.on('error', die);
      worker.on('exit', (code) => die(new Error(`a replay parser thread stopped (exit code ${code})`)));
      this.threads.push(t);
    }
  }

  /** Parse the whole lines of `buf` (its own ArrayBuffer, handed over: not to be used after). */
  parse(buf: Buffer, length: number): Promise<BlockResult> {
    if (this.failed) return Promise.reject(this.failed);
    const t = this.threads[this.next++ % this.threads.length] as (typeof this.threads)[number];
    return new Promise((ok, fail) => {
      t.waiting.push({ ok, fail });
      t.worker.postMessage({ buf: buf.buffer, length }, [buf.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }
}
