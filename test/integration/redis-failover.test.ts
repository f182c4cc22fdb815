// A master of a Redis Cluster (3 masters, one replica each) dies mid-ingest:
// batches touching its slots are refused (503 at the HTTP layer) until its
// replica takes over, then ingest resumes. A refused batch is sent again
// with its id, as the plugin does: groups it had reached on live masters are
// not written twice, so every record is counted once. The figure (how long
// ingest was refused) is printed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRedisState } from '../../aggregator/state';
import { createClock } from '../../aggregator/clock';
import { DEFAULT_SETTINGS } from '../../common/settings';
import type { KeyedRecord } from '../../aggregator/state/state';
import { waitFor } from '../helpers/redis';
import { startCluster } from '../helpers/redis-cluster';

test('Cluster master failover mid-ingest: batches refused until the replica takes over, then every accepted record counted once', async (t) => {
  const cluster = await startCluster({ replicas: 1 });
  t.after(() => cluster.close());
  const s = createRedisState(cluster.url, { clock: createClock('event'), defaults: DEFAULT_SETTINGS, maxKeys: 1e6, maxServices: 10, maxFindings: 1000, credentialMaxIps: 100, sweepIntervalMs: 600_000 });
  t.after(() => s.close?.());
  await waitFor('cluster state ready', async () => s.health?.().ok === true);
  let ts = 1_717_800_000_000;
  const batch = (): KeyedRecord[] => Array.from({ length: 200 }, (_, i) => ({ ts: ts + i, ipKey: `10.0.${i >> 4}.${i}`, status: 200, service: 'orders' }));
  let accepted = 0;
  let n = 0;
  for (; n < 10; n++) {
    accepted += (await s.apply(batch(), `b${n}`)).accepted;
    ts += 200;
  }
  const victim = (await cluster.masters())[1];
  assert.ok(victim);
  const killedAt = Date.now();
  await cluster.kill(victim.port);
  let refused = 0;
  let firstRefused = 0;
  let resumedAt = 0;
  while (Date.now() - killedAt < 60_000 && resumedAt === 0) {
    try {
      // the same records and id until accepted
      accepted += (await s.apply(batch(), `b${n}`)).accepted;
      ts += 200;
      n++;
      if (refused > 0) resumedAt = Date.now();
    } catch (err) {
      assert.match(String((err as Error).message), /state backend unavailable/);
      refused++;
      firstRefused ||= Date.now();
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  t.diagnostic(`master killed: ${refused} batches refused for ${resumedAt - firstRefused} ms (cluster-node-timeout 1000 ms), ingest back ${resumedAt - killedAt} ms after the kill`);
  assert.ok(refused > 0, 'batches touching the dead master were refused');
  assert.ok(resumedAt > 0, 'ingest resumed once the replica took over');
  const top = await s.top('orders', 'requests', 1000);
  assert.equal(top.items.reduce((n, x) => n + x.count, 0) + top.other, accepted, 'every record counted once');
});
