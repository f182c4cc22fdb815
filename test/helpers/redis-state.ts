// A Redis state built in the test's own process, on the event clock, with
// small caps and no timer: a test sweeps when it says so.
import { createRedisState } from '../../aggregator/state';
import { createClock } from '../../aggregator/clock';
import { DEFAULT_SETTINGS } from '../../common/settings';
import type { SiemState } from '../../aggregator/state/state';

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
