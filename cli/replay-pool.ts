// Parsing replay's blocks of lines on parser threads (--workers N: the main
// thread, which runs the detectors, and N - 1 parser threads). A block goes
// to the parser thread with the fewest not yet parsed, by a count each keeps
// in shared memory (the main thread reads their answers only when it waits,
// so going by those a thread would look busy long after it ran dry); when
// every one already has PER_THREAD, the main thread first runs the detectors
// over the results ready, then parses the block itself rather than wait.
// Results are taken strictly in the order the blocks were given, so the
// main thread feeds the state exactly as one thread reading the file would.
//
// Why the main thread parses too: parsing a line costs ~2-3 times what the
// detectors spend on its record, so a parser thread parsing everything
// leaves the main thread idle most of the time and the run is as long as the
// parser thread's part (--workers 2 was no faster than one thread). Taking
// a block whenever the parser threads have PER_THREAD waiting, the main
// thread parses about a third of them (500k lines: ~35%; ~25% since the
// counts are shared: the parser thread was idle ~1 s of ~5 s before),
// close to the even split of the work between two threads. The main
// thread may run up to QUEUED_PER_THREAD blocks ahead of the oldest one
// not yet parsed, parsing blocks itself rather than wait for it.

import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { POOL_CHUNK_BYTES } from './replay-input';
import { lineMapper, type BlockResult, type LineOptions } from './replay-lines';
import { unpack, type PackedBlock } from './replay-packed';

/** Stands for a line too long to keep (counted as a bad line, in its place). */
export const OVER_LONG = 'over-long';
export type Block = BlockResult | typeof OVER_LONG;

/**
 * Blocks a parser thread holds at once (one parsed, the others waiting)
 * before the main thread parses one itself: enough that the parser thread
 * is not left idle while the main thread parses a block and runs the
 * detectors over the results; more only cost memory.
 */
const PER_THREAD = 3;
/**
 * Blocks given and not yet taken, per thread: past this the main thread
 * waits for the oldest. Its own blocks hold only their results (their
 * buffers are used again at once), so it may run well ahead of a parser
 * thread still on an older block rather than wait for it.
 */
const QUEUED_PER_THREAD = 8;
/**
 * A parser thread's young generation, MB: its garbage is short-lived (a
 * block's records), so a small one costs only more scavenges. Peak RSS at 1,
 * 4 and 16 MB was within the noise of one another here (150-164 MB).
 */
const YOUNG_MB = 4;
/**
 * Room kept before each read (cli/replay-input.ts, reservedChunks) for the
 * unfinished line of the previous read, copied there: a block is then the
 * buffer read into, moved to a thread as it is, not a copy of the chunk.
 */
export const BLOCK_RESERVE = 64 * 1024;
/** Block buffers this size come back from the threads and are used again: no fresh buffer per block, freed in another thread. */
const BLOCK_BYTES = POOL_CHUNK_BYTES + BLOCK_RESERVE;

interface Waiting {
  ok: (r: BlockResult) => void;
  fail: (e: Error) => void;
}

interface Thread {
  worker: Worker;
  /** blocks given whose results have not come back (messages are read only when this thread waits) */
  waiting: Waiting[];
  /** blocks given, and blocks the thread has finished (it counts them, before its answer is even read) */
  given: number;
  done: Int32Array;
}

/** What a parser thread is started with. */
export interface WorkerInput {
  o: LineOptions;
  /** [0]: blocks it has finished parsing */
  done: Int32Array;
}

interface Entry {
  r?: Block;
  p?: Promise<unknown>;
}

export class OrderedParser {
  private readonly threads: Thread[] = [];
  private readonly queue: Entry[] = [];
  /** block buffers back from the threads */
  private readonly spare: ArrayBuffer[] = [];
  private failed?: Error;
  /** parses a block on this thread */
  readonly here: ReturnType<typeof lineMapper>;

  /** `n` threads parse, this one among them (n - 1 parser threads). */
  constructor(
    private readonly n: number,
    o: LineOptions,
  ) {
    this.here = lineMapper(o);
    for (let i = 1; i < n; i++) {
      const done = new Int32Array(new SharedArrayBuffer(4));
      const worker = new Worker(path.join(__dirname, 'replay-worker.js'), {
        workerData: { o, done } satisfies WorkerInput,
        resourceLimits: { maxYoungGenerationSizeMb: YOUNG_MB },
      });
      const t: Thread = { worker, waiting: [], given: 0, done };
      // a thread answers its blocks in the order it got them
      worker.on('message', (m: { packed: PackedBlock; buf: ArrayBuffer }) => {
        this.recycle(m.buf);
        t.waiting.shift()?.ok(unpack(m.packed));
      });
      const die = (e: Error) => {
        this.failed ??= e;
        for (const w of t.waiting.splice(0)) w.fail(e);
      };
      worker.on('error', die);
      worker.on('exit', (code) => die(new Error(`a replay parser thread stopped (exit code ${code})`)));
      this.threads.push(t);
    }
  }

  /** A buffer of `size` bytes for a block to give (used again once a thread is done with it). */
  block(size: number): Buffer {
    if (size > BLOCK_BYTES || this.threads.length === 0) return Buffer.allocUnsafeSlow(size);
    return Buffer.from(this.buffer(), 0, size);
  }

  /** A block buffer (BLOCK_RESERVE + POOL_CHUNK_BYTES) to read into. */
  buffer(): ArrayBuffer {
    return this.spare.pop() ?? new ArrayBuffer(BLOCK_BYTES);
  }

  /** `buf` (from buffer()) not given after all: used again. */
  recycle(buf: ArrayBufferLike): void {
    if (buf.byteLength === BLOCK_BYTES && this.spare.length < PER_THREAD * this.n) this.spare.push(buf as ArrayBuffer);
  }

  /**
   * Queue `block` (whole lines in a buffer of its own, handed over: not to be
   * used after), then hand `take` every result ready at the head of the
   * queue, in order; waits for the head only when many are pending.
   */
  async give(block: Buffer | typeof OVER_LONG, take: (r: Block) => Promise<void>): Promise<void> {
    // Results ready while every parser thread is full: the detectors run
    // over them while the threads parse. With room in one, the block goes
    // to it first: a thread left without work is time lost.
    while (this.queue.length > 0 && (this.queue[0] as Entry).r !== undefined && this.roomiest() === undefined) await this.takeHead(take);
    const e: Entry = {};
    if (block === OVER_LONG) e.r = block;
    else {
      const t = this.failed ? undefined : this.roomiest();
      if (t === undefined) {
        // no parser thread with room (or none left): parsed here rather than waited for
        e.r = this.here(block, 0, block.length);
        this.recycle(block.buffer);
      } else {
        const parsed = new Promise<BlockResult>((ok, fail) => {
          t.waiting.push({ ok, fail });
          t.given++;
          t.worker.postMessage({ buf: block.buffer, offset: block.byteOffset, length: block.length }, [block.buffer as ArrayBuffer]);
        });
        e.p = parsed.then((r) => {
          e.r = r;
        });
        // taken (and thrown) in order; not unhandled meanwhile
        e.p.catch(() => undefined);
      }
    }
    this.queue.push(e);
    // bounded: beyond QUEUED_PER_THREAD per thread, this one waits for the head
    while (this.queue.length > QUEUED_PER_THREAD * this.n) await this.takeHead(take);
  }

  /**
   * The parser thread with the fewest blocks not yet parsed, if under
   * PER_THREAD, by the count it keeps: its answers are read only when this
   * thread waits, and going by them it would look busy long after it ran dry.
   */
  private roomiest(): Thread | undefined {
    let t: Thread | undefined;
    let least = PER_THREAD;
    for (const u of this.threads) {
      const unparsed = u.given - Atomics.load(u.done, 0);
      if (unparsed < least) {
        least = unparsed;
        t = u;
      }
    }
    return t;
  }

  /** Hand `take` every result still pending, in order. */
  async drain(take: (r: Block) => Promise<void>): Promise<void> {
    while (this.queue.length > 0) await this.takeHead(take);
  }

  private async takeHead(take: (r: Block) => Promise<void>): Promise<void> {
    const head = this.queue.shift() as Entry;
    if (head.r === undefined) await head.p;
    await take(head.r as Block);
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.worker.terminate()));
  }
}
