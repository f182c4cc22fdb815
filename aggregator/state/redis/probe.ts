// /healthz on Redis says whether a batch can be written, not only whether the
// connection is up: a connected Redis can refuse every write (maxmemory
// reached under the default noeviction policy, a replica left read-only
// after a failover), and ingest then answers 503 to every batch while a
// connection check said ok. SETRANGE with an empty value is a write Redis
// checks like any other (refused with OOM or READONLY) that changes nothing
// and creates no key.
import type { StateHealth } from '../state';
import type { RedisClient } from './client';
import { metaKeys } from './keys';

export async function probeWrites(r: RedisClient, connected: StateHealth): Promise<StateHealth> {
  if (!connected.ok) return connected;
  try {
    await r.setrange(metaKeys.version, 0, '');
    return connected;
  } catch (err) {
    return { ok: false, reason: `redis refuses writes: ${(err as Error).message}` };
  }
}
