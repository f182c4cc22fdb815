// A slot of a real 3-master Redis Cluster moves to another master while an
// aggregator is connected (CLUSTER SETSLOT ... MIGRATING/IMPORTING, MIGRATE,
// SETSLOT NODE, as a resharding or a failover does). ioredis's
// autopipelining sends one pipeline per node; when only some of its commands
// answer MOVED, it hands the errors back without refreshing its slot map, so
// every later batch went to the old master and failed (seen in CI after a
// failover: 1280 batches refused with MOVED for 60 s). The aggregator must
// find the slot's new master by itself: a batch refused meanwhile is sent
// again by its sender, and every record is counted once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { KeyedRecord } from '../../aggregator/state/state';
import { waitFor } from '../helpers/redis';
import { redisStateForTest } from '../helpers/redis-state';
import { startCluster } from '../helpers/redis-cluster';

const T0 = 1_717_000_000_000;

function cli(port: number, ...args: string[]): string {
  const r = spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8', timeout: 30_000 });
  if (r.error || r.status !== 0) throw new Error(`redis-cli ${args.join(' ')}: ${r.error?.message ?? r.stderr}`);
  return r.stdout.trim();
}

/** The master holding `slot`, from CLUSTER SLOTS's plain-text answer (start, end, then the master's host, port, id). */
function ownerOf(port: number, slot: number, masters: { port: number; id: string }[]) {
  const lines = cli(port, 'CLUSTER', 'SLOTS').split('\n');
  for (let i = 0; i + 3 < lines.length; i++) {
    const [start, end, , p] = [Number(lines[i]), Number(lines[i + 1]), lines[i + 2], Number(lines[i + 3])];
    if (Number.isInteger(start) && Number.isInteger(end) && slot >= start && slot <= end) {
      const m = masters.find((x) => x.port === p);
      if (m) return m;
    }
  }
  throw new Error(`no master found for slot ${slot}`);
}

/** Move one slot, its keys included, from one master to another, and tell every master. */
function moveSlot(slot: number, from: { port: number; id: string }, to: { port: number; id: string }, all: { port: number }[]) {
  cli(to.port, 'CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', from.id);
  cli(from.port, 'CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', to.id);
  for (let round = 0; round < 1000; round++) {
    const keys = cli(from.port, 'CLUSTER', 'GETKEYSINSLOT', String(slot), '100')
      .split('\n')
      .filter((k) => k !== '');
    if (keys.length === 0) break;
    cli(from.port, 'MIGRATE', '127.0.0.1', String(to.port), '', '0', '5000', 'KEYS', ...keys);
  }
  for (const m of all) cli(m.port, 'CLUSTER', 'SETSLOT', String(slot), 'NODE', to.id);
}

test('Redis Cluster: a slot moved to another master under a connected aggregator; ingest goes on, every record counted once', {
  timeout: 180_000,
}, async (t) => {
  const cluster = await startCluster();
  t.after(() => cluster.close());
  const s = redisStateForTest(cluster.url, { maxKeys: 100_000, sweepIntervalMs: 600_000 });
  t.after(() => s.close?.());
  await waitFor('cluster client ready', async () => s.health?.().ok === true, 30_000);

  // 200 IPs: their keys spread over every slot group, so each master serves several groups in one pipeline
  const batch = (n: number): KeyedRecord[] =>
    Array.from({ length: 200 }, (_, i) => ({ ts: T0 + n * 1000 + i, ipKey: `10.9.${i >> 4}.${i}`, status: 200, service: 'orders' }));
  await s.apply(batch(0), 'moved-0');

  const masters = await cluster.masters();
  const port = (masters[0] as { port: number }).port;
  // the slot of one slot group's keys ({k0}), moved to the next master
  const slot = Number(cli(port, 'CLUSTER', 'KEYSLOT', '{k0}'));
  const from = ownerOf(port, slot, masters);
  const to = masters[(masters.indexOf(from) + 1) % masters.length] as { port: number; id: string };
  moveSlot(slot, from, to, masters);
  assert.equal(ownerOf(port, slot, masters).id, to.id, 'the slot moved');

  // a sender as the plugin: a batch refused is sent again, same id, a bounded number of times
  let refused = 0;
  for (let n = 1; n <= 5; n++) {
    let done = false;
    for (let attempt = 0; attempt < 50 && !done; attempt++) {
      try {
        await s.apply(batch(n), `moved-${n}`);
        done = true;
      } catch {
        refused++;
        await new Promise((r) => setTimeout(r, 30));
      }
    }
    assert.ok(done, `batch ${n} accepted within 50 tries after the move (${refused} refusals so far)`);
  }
  // the refresh on MOVED, not the client's periodic one (every 5 s): a few tries 30 ms apart, not ~170
  assert.ok(refused <= 5, `${refused} batches refused after the move`);
  const top = await s.top('orders', 'requests', 200);
  assert.equal(top.items.length, 200);
  assert.ok(
    top.items.every((x) => x.count === 6),
    `every IP counted once per batch: ${JSON.stringify(top.items.filter((x) => x.count !== 6).slice(0, 3))}`,
  );
  t.diagnostic(`batches refused after the move: ${refused}`);
});
