// The delivery queue: one per ingest endpoint and token, kept at module level. Kong
// starts a plugin instance per worker and per configuration, and replaces it
// on every config change without telling the old one (the plugin server's
// CloseInstance does not reach the plugin object), so a queue held by an
// instance would lose its records; a module-level queue outlives them all.
//
// Records wait until `batch_max_size` are queued or the oldest has waited
// `flush_interval_ms`; one batch is in flight at a time. A batch that fails
// with a retryable outcome goes back to the head and is retried with capped,
// jittered exponential backoff, while new records keep queueing up to
// `queue_max_records` (the oldest dropped and counted beyond that). Nothing
// here is awaited by log(): push() only appends and arms a timer.
//
// Each batch carries an id (`batch`) that it keeps across its retries, so an
// aggregator that stored a batch whose answer was lost answers the retry as a
// duplicate instead of counting it twice. A retried batch is re-sent with the
// same records or, when the queue cap dropped some of them meanwhile, a
// subset of them (never with new ones): whatever the aggregator stored under
// that id, nothing new is lost to a duplicate answer.
import { randomUUID } from 'node:crypto';
import type { SiemRecord, RecordBatch } from '../../common/record';
import type { DetectionSettings } from '../../common/settings';
import type { DeliveryOptions } from './config';
import { DropOldestBuffer } from './ring';
import { BATCH_MAX_BYTES, recordBytes } from './record-bytes';
import { postBatch, type SendResult, type Transport } from './send';
import { rateLimitedWarn } from './warn';

export const RETRY_BASE_MS = 100;
export const RETRY_MAX_MS = 5000;
/** bound of the service -> settings map (services are few; this only stops a leak) */
const MAX_SERVICES = 10_000;

/** Delay before retry `attempt` (1, 2, ...): doubling from RETRY_BASE_MS, capped, with "equal jitter" so retries of many gateways spread out but never fire at once. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(30, Math.max(0, attempt - 1)));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export interface QueueStats {
  queued: number;
  /** records accepted (2xx) by the aggregator */
  delivered: number;
  /** records dropped: queue full or batch refused with a 4xx */
  dropped: number;
  /** failed attempts, each followed by a retry */
  failures: number;
}

export class DeliveryQueue {
  readonly endpoint: string;
  #opts: DeliveryOptions;
  #buf: DropOldestBuffer<SiemRecord>;
  #transport: Transport;
  /** settings of each service, last config wins; sent with every batch holding that service */
  #settings = new Map<string, Readonly<DetectionSettings>>();
  #stats: QueueStats = { queued: 0, delivered: 0, dropped: 0, failures: 0 };
  /** drops not yet reported to the aggregator in a batch's `dropped` */
  #unreported = 0;
  #attempt = 0;
  /** the batch waiting for a retry: its id and `dropped`, and how many records at the head of the buffer are still its */
  #retry: { id: string; dropped: number; size: number } | undefined;
  #flushTimer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #closed = false;
  #warnDrop = rateLimitedWarn('queue full');
  #warnFail = rateLimitedWarn('delivery failed');
  #warnReject = rateLimitedWarn('batch refused');

  constructor(opts: DeliveryOptions, transport: Transport = postBatch) {
    this.endpoint = opts.endpoint;
    this.#opts = opts;
    this.#buf = new DropOldestBuffer(opts.queueMaxRecords);
    this.#transport = transport;
  }

  /** Apply a newer instance's delivery options (last config wins). */
  configure(opts: DeliveryOptions): void {
    this.#opts = opts;
    this.#headDropped(this.#buf.resize(opts.queueMaxRecords));
  }

  stats(): Readonly<QueueStats> {
    return { ...this.#stats, queued: this.#buf.length };
  }

  push(record: SiemRecord, settings: Readonly<DetectionSettings>): void {
    if (this.#settings.get(record.service) !== settings) {
      if (this.#settings.size >= MAX_SERVICES) this.#settings.clear();
      this.#settings.set(record.service, settings);
    }
    this.#headDropped(this.#buf.push(record));
    this.#kick();
  }

  /** Start a send when a batch is full, else make sure the flush timer runs. */
  #kick(): void {
    if (this.#running || this.#retryTimer || this.#closed || this.#buf.length === 0) return;
    if (this.#buf.length >= this.#opts.batchMaxSize) {
      this.#start(false);
    } else if (!this.#flushTimer) {
      this.#flushTimer = setTimeout(() => {
        this.#flushTimer = undefined;
        this.#start(true);
      }, this.#opts.flushIntervalMs);
      this.#flushTimer.unref();
    }
  }

  #start(all: boolean): void {
    if (this.#running || this.#closed) return;
    if (this.#flushTimer) {
      clearTimeout(this.#flushTimer);
      this.#flushTimer = undefined;
    }
    this.#running = this.#run(all).finally(() => {
      this.#running = undefined;
      this.#kick();
    });
  }

  /** Send full batches (or everything, when the interval fired) until the queue is short or a send fails. */
  async #run(all: boolean): Promise<void> {
    while (!this.#closed && this.#buf.length > 0 && (all || this.#buf.length >= this.#opts.batchMaxSize)) {
      const batch = this.#takeBatch();
      const r = await this.#deliver(batch, this.#opts.timeoutMs);
      if (r.outcome === 'retry') {
        this.#putBack(batch);
        this.#stats.failures++;
        this.#attempt++;
        const delay = backoffMs(this.#attempt);
        this.#warnFail(
          `${this.endpoint}: ${r.error ?? `status ${r.status}`}; ${this.#buf.length} records queued, retry #${this.#attempt} in ${delay} ms`,
        );
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = undefined;
          this.#start(true);
        }, delay);
        this.#retryTimer.unref();
        return;
      }
      this.#attempt = 0;
    }
  }

  /** The next batch: the one awaiting its retry (same id), else a new one from the head of the queue. */
  #takeBatch(): Batch {
    const retry = this.#retry;
    this.#retry = undefined;
    if (retry) return { id: retry.id, dropped: retry.dropped, records: this.#buf.take(retry.size) };
    // batch_max_size records, or fewer when they would pass BATCH_MAX_BYTES (record-bytes.ts)
    const n = this.#buf.countFitting(this.#opts.batchMaxSize, BATCH_MAX_BYTES, recordBytes);
    return { id: randomUUID(), dropped: this.#unreported, records: this.#buf.take(n) };
  }

  /** A batch to retry goes back to the head, keeping its id. */
  #putBack(batch: Batch): void {
    this.#retry = { id: batch.id, dropped: batch.dropped, size: batch.records.length };
    this.#headDropped(this.#buf.putBack(batch.records));
  }

  /** `n` oldest records dropped from the head: those of a batch awaiting its retry go first. */
  #headDropped(n: number): void {
    if (n <= 0) return;
    if (this.#retry) {
      this.#retry.size -= n;
      if (this.#retry.size <= 0) this.#retry = undefined;
    }
    this.#countDrops(n);
  }

  /** POST one batch; accounts delivered and refused records. Never throws. */
  async #deliver({ id, dropped: reported, records: batch }: Batch, timeoutMs: number): Promise<SendResult> {
    const body: RecordBatch = { batch: id, records: batch };
    // no prototype: a service named __proto__ is a key like any other (on a plain object it set the prototype, sent as nothing)
    const settings: NonNullable<RecordBatch['settings']> = Object.create(null);
    for (const r of batch) {
      const s = this.#settings.get(r.service);
      if (s && !Object.hasOwn(settings, r.service)) settings[r.service] = s;
    }
    body.settings = settings;
    if (reported > 0) body.dropped = reported;
    let r: SendResult;
    try {
      r = await this.#transport({ endpoint: this.endpoint, body: JSON.stringify(body), token: this.#opts.ingestToken, timeoutMs });
    } catch (err) {
      r = { outcome: 'retry', error: (err as Error).message };
    }
    if (r.outcome === 'ok') {
      this.#stats.delivered += batch.length;
      this.#unreported -= reported;
    } else if (r.outcome === 'reject') {
      this.#countDrops(batch.length);
      this.#warnReject(`${this.endpoint} answered ${r.status}: ${batch.length} records dropped`);
    }
    return r;
  }

  #countDrops(n: number): void {
    if (n <= 0) return;
    this.#stats.dropped += n;
    this.#unreported += n;
    this.#warnDrop(`${this.endpoint}: ${this.#stats.dropped} records dropped so far (queue_max_records ${this.#buf.capacity})`);
  }

  /**
   * Shutdown: stop the timers, let the batch in flight finish, then send what
   * is queued, each batch tried once, until the deadline. Returns the records
   * left undelivered.
   */
  async close(deadlineMs: number): Promise<number> {
    this.#closed = true;
    clearTimeout(this.#flushTimer);
    clearTimeout(this.#retryTimer);
    this.#flushTimer = this.#retryTimer = undefined;
    const end = Date.now() + deadlineMs;
    if (this.#running) await Promise.race([this.#running, sleep(deadlineMs)]);
    while (this.#buf.length > 0) {
      const left = end - Date.now();
      if (left <= 0) break;
      const batch = this.#takeBatch();
      const r = await this.#deliver(batch, Math.min(this.#opts.timeoutMs, left));
      if (r.outcome === 'retry') {
        this.#putBack(batch);
        break;
      }
    }
    return this.#buf.length;
  }
}

interface Batch {
  /** the sender's id of this batch (RecordBatch.batch), kept across retries */
  id: string;
  /** its `dropped` report, also kept: a duplicate answer must not acknowledge drops it did not carry */
  dropped: number;
  records: SiemRecord[];
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/** The module-level queues, by ingest endpoint and token. */
const queues = new Map<string, DeliveryQueue>();

/**
 * The queue of this endpoint and token, created on first use or reconfigured
 * by a newer instance. The token is part of the key: Kong starts instances
 * lazily in request order (again after every config change), so with one
 * queue per endpoint the last started instance's token went with every
 * service's records, and one plugin config with a stale or missing token had
 * the whole gateway's batches refused (401) and dropped.
 */
export function queueFor(opts: DeliveryOptions): DeliveryQueue {
  const key = `${opts.endpoint} ${opts.ingestToken ?? ''}`;
  let q = queues.get(key);
  if (q) q.configure(opts);
  else {
    q = new DeliveryQueue(opts);
    queues.set(key, q);
  }
  return q;
}

export function allQueues(): DeliveryQueue[] {
  return [...queues.values()];
}
