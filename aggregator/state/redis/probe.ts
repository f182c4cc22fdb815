// /healthz on Redis says whether a batch can be written, not only whether the
// connection is up: a connected Redis can refuse every write (maxmemory
// reached under the default noeviction policy, a replica left read-only
// after a failover, MISCONF when its snapshot cannot be written), and ingest
// then answers 503 to every batch while a connection check said ok.
// SETRANGE with an empty value is a write Redis checks like any other
// (refused with OOM, READONLY or MISCONF) that changes nothing and creates no
// key. /healthz needs no token: one probe per PROBE_TTL_MS answers every
// call meanwhile, so its callers cannot drive Redis.
import type { StateHealth } from '../state';
import type { RedisClient } from './client';
import { metaKeys } from './keys';

export const PROBE_TTL_MS = 1000;

export class WriteProbe {
  #at = Number.NEGATIVE_INFINITY;
  #last: Promise<StateHealth> | undefined;

  constructor(
    private readonly r: RedisClient,
    private readonly now: () => number = Date.now,
  ) {}

  /** `connected` (the connection's health) and, when it is ok, whether Redis takes a write. */
  check(connected: StateHealth): Promise<StateHealth> {
    if (!connected.ok) return Promise.resolve(connected);
    const t = this.now();
    if (this.#last && t - this.#at < PROBE_TTL_MS) return this.#last;
    this.#at = t;
    this.#last = this.r.setrange(metaKeys.version, 0, '').then(
      () => connected,
      // an ACL without SETRANGE refuses the probe, not the writes ingest makes
      (err: Error) => (/^NOPERM/.test(err.message) ? connected : { ok: false, reason: `redis refuses writes: ${err.message}` }),
    );
    return this.#last;
  }
}
