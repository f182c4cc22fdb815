// Chooses the state backend from SIEM_STATE: `memory` (embedded) or a
// redis:// / rediss:// URL (comma-separated seeds: Redis Cluster) shared by
// several aggregators. Everything outside this folder sees only SiemState.
// The Redis backend (and ioredis) is loaded only when asked for: the CLI's
// replay and the memory backend start without it.
import type { Config } from '../config';
import type { Clock } from '../clock';
import { MemoryState } from './memory/state';
import type { SiemState, StateOptions } from './state';

export type { StateOptions } from './state';

export interface StateHooks {
  /** a state operation failed (shared backend unreachable) */
  onError?: (err: unknown) => void;
  /** a service's settings in force changed (see StateOptions) */
  onSettingsChange?: StateOptions['onSettingsChange'];
}

/** An embedded state (the CLI's replay, tests, benchmarks). */
export function createMemoryState(o: StateOptions): SiemState {
  return new MemoryState(o);
}

/** A state shared through Redis (SIEM_STATE=redis://...). */
export function createRedisState(url: string, o: StateOptions & { sweepIntervalMs: number; onError?: (err: unknown) => void }): SiemState {
  const { connectRedis, parseRedisState } = require('./redis/client') as typeof import('./redis/client');
  const { RedisState } = require('./redis/state') as typeof import('./redis/state');
  return new RedisState({ ...o, client: connectRedis(parseRedisState(url)) });
}

export function createState(
  config: Readonly<Config>,
  clock: Clock,
  onEvict: (table: 'ip' | 'credential') => void,
  hooks: StateHooks = {},
): SiemState {
  const common: StateOptions = {
    clock,
    defaults: config.defaults,
    maxKeys: config.maxKeys,
    maxServices: config.maxServices,
    maxFindings: config.maxFindings,
    credentialMaxIps: config.credentialMaxIps,
    onEvict,
    settingsSource: config.settingsSource,
    lockedSettings: config.lockedSettings,
    onSettingsChange: hooks.onSettingsChange,
  };
  if (config.state === 'memory') return createMemoryState(common);
  return createRedisState(config.state, { ...common, sweepIntervalMs: config.sweepIntervalMs, onError: hooks.onError });
}
