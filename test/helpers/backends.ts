// One aggregator in process on either backend, Redis a real redis-server of
// its own: what the tests that run a scenario on both backends start with.
import { getJson, startAggregator, type RunningAggregator } from './aggregator';
import { startRedis, waitFor } from './redis';

export const BACKENDS = ['memory', 'redis'] as const;
export type Backend = (typeof BACKENDS)[number];

/** Started with `env`, healthy, stopped (with its Redis) after the test. */
export async function startOn(
  t: { after(fn: () => unknown): void },
  backend: Backend,
  env: Record<string, string>,
): Promise<RunningAggregator> {
  const all = { ...env };
  if (backend === 'redis') {
    const redis = await startRedis();
    t.after(() => redis.close());
    all.SIEM_STATE = redis.url;
  }
  const agg = await startAggregator(all);
  t.after(() => agg.close());
  await waitFor(`${agg.url}/healthz ok`, async () => (await getJson(`${agg.url}/healthz`)).status === 200);
  return agg;
}
