// A Redis state built in the test's own process, on the event clock, with
// small caps and no timer: a test sweeps when it says so.
import { createRedisState } from '../../aggregator/state';
import { createClock } from '../../aggregator/clock';
import { DEFAULT_SETTINGS } from '../../common/settings';
import type { SiemState } from '../../aggregator/state/state';
import type { TestContext } from 'node:test';
import Redis from 'ioredis';
import { startRedis, waitFor } from './redis';

export type RedisStateOptions = Parameters<typeof createRedisState>[1];

export function redisStateForTest(url: string, o: Partial<RedisStateOptions> = {}): SiemState {
  return createRedisState(url, {
    clock: createClock('event'),
    defaults: DEFAULT_SETTINGS,
    maxKeys: 10_000,
    maxServices: 10,
    maxFindings: 1000,
    credentialMaxIps: 100,
    sweepIntervalMs: 60_000,
    onEvict: () => {},
    ...o,
  });
}

/**
 * A redis-server of the test's own, a client on it for looking at keys, and
 * a ready redisStateForTest on it; all stopped after the test.
 */
export async function redisStateOnOwnServer(t: TestContext, o: Partial<RedisStateOptions> = {}) {
  const redis = await startRedis();
  t.after(() => redis.close());
  const raw = new Redis(redis.url);
  t.after(() => raw.disconnect());
  const state = redisStateForTest(redis.url, o);
  t.after(() => state.close?.());
  await waitFor('redis ready', async () => state.health?.().ok === true);
  return { raw, state, url: redis.url };
}
