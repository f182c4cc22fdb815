// Chooses the state backend from SIEM_STATE: `memory` (embedded) or a
// redis:// / rediss:// URL (comma-separated seeds: Redis Cluster) shared by
// several aggregators.
import type { Config } from '../config';
import type { Clock } from '../clock';
import { MemoryState } from './memory-state';
import { connectRedis, parseRedisState } from './redis-client';
import { RedisState } from './redis-state';
import type { SiemState } from './state';

export interface StateHooks {
  /** a state operation failed (shared backend unreachable) */
  onError?: (err: unknown) => void;
}

export function createState(
  config: Readonly<Config>,
  clock: Clock,
  onEvict: (table: 'ip' | 'credential') => void,
  hooks: StateHooks = {},
): SiemState {
  const common = {
    clock,
    defaults: config.defaults,
    maxKeys: config.maxKeys,
    maxServices: config.maxServices,
    maxFindings: config.maxFindings,
    credentialMaxIps: config.credentialMaxIps,
    onEvict,
  };
  if (config.state === 'memory') return new MemoryState(common);
  return new RedisState({
    ...common,
    client: connectRedis(parseRedisState(config.state)),
    sweepIntervalMs: config.sweepIntervalMs,
    onError: hooks.onError,
  });
}
