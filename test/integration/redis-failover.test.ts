// A master of a real Redis Cluster (3 masters, one replica each,
// cluster-node-timeout 1000 ms) is SIGKILLed while an aggregator ingests over
// HTTP. A sender posts batches with ids and sends a batch answered 503 again,
// same id, as the plugin does. Ingest must resume once the replica has taken
// over (the aggregator's client finds the new master without a restart), and
// every batch answered 202 must be counted exactly once. How long ingest was
// refused is printed, not asserted (the machine is shared: a figure, not a test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { postJson, startAggregator } from '../helpers/aggregator';
import { waitFor } from '../helpers/redis';
import { startCluster } from '../helpers/redis-cluster';

const PER_BATCH = 100;
/** Resumes at all within this after the kill (a bound, not a speed target). */
const RESUME_WITHIN_MS = 60_000;

test('Cluster master SIGKILLed mid-ingest: ingest resumes after the failover and every batch answered 202 is counted once', {
  timeout: 300_000,
}, async (t) => {
  const cluster = await startCluster({ replicas: 1 });
  t.after(() => cluster.close());
  const agg = await startAggregator({ SIEM_CLOCK: 'event', SIEM_STATE: cluster.url });
  t.after(() => agg.close());
  await waitFor('aggregator on the Cluster', async () => (await fetch(`${agg.url}/healthz`)).ok, 30_000);

  const base = 1_717_800_000_000;
  // batch n: PER_BATCH records, one per IP of 100 IPs, the same on every retry
  const body = (n: number) => ({
    batch: `failover-${n}`,
    records: Array.from({ length: PER_BATCH }, (_, i) => ({
      ts: base + n * PER_BATCH + i,
      ip: `10.${n % 7}.${i >> 4}.${i}`,
      status: 200,
      service: 'orders',
    })),
  });
  let delivered = 0;
  let refused = 0;
  let duplicates = 0;
  let n = 0;
  const reasons = new Map<string, number>();
  /** Send batch n until it is answered 202 (false if the deadline passes first). */
  const deliver = async (deadline: number): Promise<boolean> => {
    for (;;) {
      const r = await postJson(`${agg.url}/v1/records`, body(n));
      if (r.status === 202) {
        // all of it, or a retry of a batch stored whose answer was lost
        if (r.body.duplicate) duplicates++;
        else assert.equal(r.body.accepted, PER_BATCH, `batch ${n}: ${JSON.stringify(r.body)}`);
        delivered++;
        n++;
        return true;
      }
      assert.equal(r.status, 503, `batch ${n}: ${JSON.stringify(r.body)}`);
      refused++;
      const why = JSON.stringify(r.body).slice(0, 160);
      reasons.set(why, (reasons.get(why) ?? 0) + 1);
      if (Date.now() > deadline) return false;
      await new Promise((res) => setTimeout(res, 20));
    }
  };
  for (let i = 0; i < 10; i++) assert.ok(await deliver(Date.now() + 30_000), 'ingest before the kill');

  const victim = (await cluster.masters())[1];
  assert.ok(victim, 'a master to kill');
  const killedAt = Date.now();
  await cluster.kill(victim.port);
  // the cluster's own view: a replica promoted in the victim's place
  let failedOverAt = 0;
  const watch = (async () => {
    while (Date.now() - killedAt < RESUME_WITHIN_MS) {
      const m = await cluster.masters().catch(() => []);
      if (m.length === 3 && m.every((x) => x.port !== victim.port)) return (failedOverAt = Date.now());
      await new Promise((res) => setTimeout(res, 100));
    }
  })();
  // keep sending through the failover until a batch posted after it is accepted
  let resumedAt = 0;
  let lastOk = killedAt;
  let longestGap = 0;
  while (resumedAt === 0 && Date.now() - killedAt < RESUME_WITHIN_MS) {
    const postedAt = Date.now();
    const ok = await deliver(killedAt + RESUME_WITHIN_MS);
    if (!ok) break;
    longestGap = Math.max(longestGap, Date.now() - lastOk);
    lastOk = Date.now();
    if (failedOverAt > 0 && postedAt > failedOverAt) resumedAt = Date.now();
  }
  await watch;
  t.diagnostic(
    `master ${victim.port} SIGKILLed: replica promoted after ${failedOverAt ? failedOverAt - killedAt : 'never'} ms; ` +
      `${refused} posts answered 503 (${JSON.stringify([...reasons])}), longest wait between two 202s ${longestGap} ms, ` +
      `${duplicates} retries recognised as stored; ingest back ${resumedAt ? resumedAt - killedAt : 'never'} ms after the kill`,
  );
  assert.ok(failedOverAt > 0, 'the cluster promoted the replica');
  assert.ok(resumedAt > 0, `a batch sent after the failover was accepted within ${RESUME_WITHIN_MS / 1000} s of the kill`);
  // and ingest stays up
  for (let i = 0; i < 10; i++) assert.ok(await deliver(Date.now() + 30_000), 'ingest after the failover');

  const counted = async () => {
    const r = await fetch(`${agg.url}/v1/top?service=orders&n=1`);
    const top = (await r.json()) as { items: { count: number }[]; other: number };
    return top.items.reduce((s, x) => s + x.count, 0) + top.other;
  };
  assert.equal(delivered, n);
  assert.equal(await counted(), n * PER_BATCH, `every record of the ${n} batches answered 202 counted once`);
});
