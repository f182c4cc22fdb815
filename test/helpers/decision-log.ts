// A bouncer pulling the stream from one aggregator after another while
// decisions are added, deleted, displaced, re-issued and expired through
// them: what it holds after each pull must be exactly the active set, every
// aggregator's listing must be that set too, and `deleted` must only name
// decisions it holds. The aggregators bring their cached sets forward by the
// store's change log (or read them whole when the log was trimmed past them).
import assert from 'node:assert/strict';
import { prng } from '../../cli/kong-traffic';
import { DecisionError, type DecisionService } from '../../aggregator/decisions/service';
import { loadDecisionsConfig, type DecisionsConfig } from '../../aggregator/decisions/config';
import type { Delta, DecisionRepo } from '../../aggregator/decisions/repo';
import type { StoredDecision } from '../../aggregator/decisions/model';

export const LOG_KEY = 'bouncer-key-log-test-0123456789';
export const LOG_T0 = 1_800_000_000_000;
const STEP_MS = 300_000;

export function logConfig(max: number): DecisionsConfig {
  return loadDecisionsConfig({ decisions: 'error_ip:4h', allowlist: '', max, bouncerKeys: LOG_KEY, adminToken: 'admin-token-log-test' });
}

/** Counts how many of a repo's change reads were deltas and how many whole sets. */
export function countReads(repo: DecisionRepo): { delta: number; full: number } {
  const n = { delta: 0, full: 0 };
  const changes = repo.changes.bind(repo);
  repo.changes = async (since) => {
    const d: Delta = await changes(since);
    if (d.full) n.full++;
    else n.delta++;
    return d;
  };
  return n;
}

const POOL = Array.from({ length: 30 }, (_, i) => (i % 4 === 3 ? `2001:db8:${i}::1` : `192.0.2.${i + 1}`));

/**
 * `rounds` rounds over `services` (all on one store, one clock `clock.now`):
 * an operator's add or delete through a random one, a reconcile round with
 * random findings through another, then the bouncer pulls from the next.
 * `truth` reads the store's active decisions without any cache.
 */
export async function alternatingPulls(
  services: readonly DecisionService[],
  clock: { now: number },
  truth: () => Promise<StoredDecision[]>,
  o: { rounds: number; seed: number },
): Promise<{ pulls: number; deleted: number; added: number }> {
  const rand = prng(o.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
  const bouncer = (services[0] as DecisionService).bouncers[0] as string;
  const held = new Map<number, string>();
  const stats = { pulls: 0, deleted: 0, added: 0 };
  const apply = (body: Buffer, startup: boolean) => {
    const a = JSON.parse(body.toString('utf8')) as { new: { id: number; value: string }[]; deleted: { id: number }[] };
    if (startup) held.clear();
    for (const d of a.deleted) {
      assert.ok(held.has(d.id), `deleted names ${d.id}, which the bouncer never got`);
      held.delete(d.id);
      stats.deleted++;
    }
    for (const d of a.new) {
      assert.ok(!held.has(d.id), `new names ${d.id} twice`);
      held.set(d.id, d.value);
      stats.added++;
    }
  };
  for (let r = 0; r < o.rounds; r++) {
    clock.now += STEP_MS;
    const op = rand();
    const via = pick(services);
    if (op < 0.3) {
      await via.add(pick(POOL), pick([STEP_MS, 3_600_000, 4 * 3_600_000]), `round ${r}`).catch((e) => {
        if (!(e instanceof DecisionError && e.statusCode === 409)) throw e;
      });
    } else if (op < 0.55) {
      const active = await truth();
      if (active.length) await via.remove(pick(active).id);
    }
    const findings = POOL.filter(() => rand() < 0.3).map((ip) => ({
      type: 'error_ip',
      service: 'orders',
      ip,
      count: 20 + Math.floor(rand() * 80),
      ratio: 1,
      since: clock.now - STEP_MS * Math.floor(rand() * 3),
    }));
    await pick(services).reconcile(findings);
    const startup = rand() < 0.08 || stats.pulls === 0;
    apply(await (services[r % services.length] as DecisionService).stream(bouncer, startup, undefined), startup);
    stats.pulls++;
    const want = (await truth())
      .filter((d) => d.until - clock.now >= 1000)
      .map((d): [number, string] => [d.id, d.value])
      .sort((a, b) => a[0] - b[0]);
    assert.deepEqual(
      [...held].sort((a, b) => a[0] - b[0]),
      want,
      `round ${r}: the bouncer holds the active set`,
    );
    for (const s of services) {
      const listed = (await s.list()).map((d): [number, string] => [d.id, d.value]);
      assert.deepEqual(listed, want, `round ${r}: every aggregator lists the active set`);
    }
  }
  return stats;
}
