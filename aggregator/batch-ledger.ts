// Idempotent ingest (docs/api.md, `batch` of `POST /v1/records`): the plugin delivers
// at-least-once (a batch is kept until a 2xx answer arrives), so a batch the
// aggregator stored whose answer was lost comes again. A sender's batch id
// accepted within the last BATCH_ID_TTL_MS is answered as a duplicate and not
// counted again. This module is the one place that remembers ids: the memory
// ledger here serves one aggregator; a shared backend (Redis) implements the
// same interface (claim = SET NX with a pending mark and a TTL, accept =
// SET XX 'accepted' with the full TTL, release = DEL of a pending mark).
import { LRUCache } from 'lru-cache';

/** How long an accepted id is remembered: longer than any sender retries one batch. */
export const BATCH_ID_TTL_MS = 10 * 60_000;
/** The longest id a sender may use (characters). */
export const BATCH_ID_MAX = 64;

/**
 * `new`: the caller stores the batch, then calls accept() (or release() when
 * storing failed); `duplicate`: accepted within the TTL, answer without
 * storing; `busy`: another request is storing this id right now (a retry that
 * overtook its original), so the sender must retry: it is not yet known
 * whether the original will be stored.
 */
export type BatchClaim = 'new' | 'duplicate' | 'busy';

export interface BatchLedger {
  claim(id: string): Promise<BatchClaim>;
  accept(id: string): Promise<void>;
  release(id: string): Promise<void>;
}

export interface MemoryLedgerOptions {
  /** ids held at most; the least recently claimed go first beyond it */
  maxIds: number;
  /** wall clock, ms (injected by tests) */
  now?: () => number;
  /** an id forgotten before its TTL because of maxIds */
  onEvict?: () => void;
}

interface Mark {
  state: 'pending' | 'accepted';
  /** when it was set, ms */
  at: number;
}

/**
 * Ids in an LRU bounded by count (ids are at most 64 characters, so memory is
 * bounded by maxIds x ~250 bytes) with a TTL. An id evicted before its TTL
 * loses its protection only: it is counted (kong_siem_evictions_total
 * {table="batch"}) so that a cap too small for the batch rate shows.
 */
export class MemoryBatchLedger implements BatchLedger {
  readonly #ids: LRUCache<string, Mark>;
  readonly #now: () => number;

  constructor(o: MemoryLedgerOptions) {
    const now = o.now ?? Date.now;
    this.#now = now;
    this.#ids = new LRUCache<string, Mark>({
      max: o.maxIds,
      ttl: BATCH_ID_TTL_MS,
      // an expired id is gone when read, whatever the purge timing
      ttlResolution: 0,
      perf: { now },
      dispose: (v, _k, reason) => {
        // an entry past its TTL but not yet purged protected nothing any more
        if (reason === 'evict' && now() - v.at < BATCH_ID_TTL_MS) o.onEvict?.();
      },
    });
  }

  get size(): number {
    return this.#ids.size;
  }

  async claim(id: string): Promise<BatchClaim> {
    const mark = this.#ids.get(id)?.state;
    if (mark === 'accepted') return 'duplicate';
    if (mark === 'pending') return 'busy';
    this.#ids.set(id, { state: 'pending', at: this.#now() });
    return 'new';
  }

  async accept(id: string): Promise<void> {
    // the TTL starts at acceptance (set() restarts it)
    this.#ids.set(id, { state: 'accepted', at: this.#now() });
  }

  async release(id: string): Promise<void> {
    if (this.#ids.get(id)?.state === 'pending') this.#ids.delete(id);
  }
}

/** The ledger of this aggregator: in memory for every SIEM_STATE until a shared one exists. */
export function createBatchLedger(maxIds: number, now: () => number, onEvict: () => void): BatchLedger {
  return new MemoryBatchLedger({ maxIds, now, onEvict });
}
