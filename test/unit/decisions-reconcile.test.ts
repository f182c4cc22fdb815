// reconcile(): findings in, decision changes out, applied to an in-memory
// repo as the aggregator does on every round.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { reconcile } from '../../aggregator/decisions/reconcile';
import { MemoryDecisionRepo } from '../../aggregator/decisions/repo';
import { Allowlist, parsePolicy } from '../../aggregator/decisions/policy';

const H = 3600_000;
const T0 = 1_800_000_000_000;

function finding(type: string, ip: string, count = 30, since = T0 - 1000) {
  return { type, service: 'orders', ip, count, ratio: 1, since };
}

async function round(
  repo: MemoryDecisionRepo,
  findings: unknown[],
  now: number,
  opts: { policy?: string; allow?: string; max?: number } = {},
) {
  const c = reconcile({
    active: await repo.active(),
    suppressed: await repo.suppressed(),
    findings,
    policy: parsePolicy(opts.policy ?? 'error_ip:4h,failure_spike:4h'),
    allowlist: new Allowlist(opts.allow ?? ''),
    max: opts.max ?? 100,
    now,
  });
  await repo.apply(c);
  return c;
}
const vals = async (repo: MemoryDecisionRepo) => (await repo.active()).map((d) => d.value).sort();

test('policy types ban their IP key; credential_ips and types outside the policy do not', async () => {
  const repo = new MemoryDecisionRepo();
  await round(
    repo,
    [
      finding('error_ip', '203.0.113.7'),
      finding('failure_spike', '2001:db8:1:2::/64'),
      finding('flood_ip', '192.0.2.44'),
      { type: 'credential_ips', service: 'orders', credential: 'c1', count: 5, ips: ['198.51.100.2'], since: T0 },
    ],
    T0,
  );
  const active = await repo.active();
  assert.deepEqual(active.map((d) => [d.value, d.scope, d.scenario, d.origin]).sort(), [
    ['2001:db8:1:2::/64', 'Range', 'kong-siem/failure_spike', 'kong-siem'],
    ['203.0.113.7', 'Ip', 'kong-siem/error_ip', 'kong-siem'],
  ]);
  assert.deepEqual(active.find((d) => d.value === '203.0.113.7')?.evidence, [
    { type: 'error_ip', service: 'orders', count: 30, ratio: 1, since: T0 - 1000 },
  ]);
  // flood_ip once opted in
  await round(repo, [finding('flood_ip', '192.0.2.44', 5000)], T0 + 1000, { policy: 'flood_ip:1h' });
  assert.ok((await vals(repo)).includes('192.0.2.44'));
});

test('a decision lasts its duration past the last time its finding qualified, then leaves', async () => {
  const repo = new MemoryDecisionRepo();
  await round(repo, [finding('error_ip', '203.0.113.7')], T0);
  const [d0] = await repo.active();
  assert.equal(d0?.until, T0 + 4 * H);
  // still qualifying an hour later: the end moves, same id (bouncers hold it)
  await round(repo, [finding('error_ip', '203.0.113.7')], T0 + H);
  const [d1] = await repo.active();
  assert.equal(d1?.id, d0?.id);
  assert.equal(d1?.until, T0 + 5 * H);
  // two hours later: re-issued under a new id so that bouncers learn the new end
  const c = await round(repo, [finding('error_ip', '203.0.113.7')], T0 + 2 * H);
  assert.deepEqual(c.remove, [d0?.id]);
  const [d2] = await repo.active();
  assert.notEqual(d2?.id, d0?.id);
  assert.equal(d2?.until, T0 + 6 * H);
  assert.equal(d2?.created, T0);
  // finding gone: the decision stays until its end, then is removed
  await round(repo, [], T0 + 6 * H - 1);
  assert.equal((await repo.active()).length, 1);
  const last = await round(repo, [], T0 + 6 * H);
  assert.deepEqual(last.remove, [d2?.id]);
  assert.equal((await repo.active()).length, 0);
});

test('allowlisted keys are never banned, a /64 overlapping the allowlist included', async () => {
  const repo = new MemoryDecisionRepo();
  await round(repo, [finding('error_ip', '10.1.1.1'), finding('error_ip', '2001:db8:aa:1::/64'), finding('error_ip', '203.0.113.9')], T0, {
    allow: '10.0.0.0/8,2001:db8:aa::/48',
  });
  assert.deepEqual(await vals(repo), ['203.0.113.9']);
});

test('SIEM_MAX_DECISIONS keeps the strongest: weaker ones never enter or are displaced', async () => {
  const repo = new MemoryDecisionRepo();
  await round(
    repo,
    [finding('error_ip', '192.0.2.1', 20), finding('error_ip', '192.0.2.2', 50), finding('error_ip', '192.0.2.3', 40)],
    T0,
    { max: 2 },
  );
  assert.deepEqual(await vals(repo), ['192.0.2.2', '192.0.2.3']);
  await round(repo, [finding('error_ip', '192.0.2.4', 100)], T0 + 1000, { max: 2 });
  assert.deepEqual(await vals(repo), ['192.0.2.2', '192.0.2.4']);
  // a flood of weak findings changes nothing and stays bounded
  const weak = Array.from({ length: 5000 }, (_, i) => finding('error_ip', `198.18.${i >> 8}.${i & 255}`, 21));
  await round(repo, weak, T0 + 2000, { max: 2 });
  assert.deepEqual(await vals(repo), ['192.0.2.2', '192.0.2.4']);
});

test("an operator's delete holds until the finding stops and starts a new run", async () => {
  const repo = new MemoryDecisionRepo();
  await round(repo, [finding('error_ip', '203.0.113.7')], T0);
  const [d] = await repo.active();
  await repo.apply({ add: [], remove: [d!.id], update: [], suppress: new Map([[d!.value, d!.since!]]), unsuppress: [] });
  await round(repo, [finding('error_ip', '203.0.113.7')], T0 + 1000);
  assert.deepEqual(await vals(repo), [], 'same run: stays deleted');
  await round(repo, [], T0 + 2000);
  assert.equal((await repo.suppressed()).size, 0, 'finding stopped: suppression lifted');
  await round(repo, [finding('error_ip', '203.0.113.7', 30, T0 + 3000)], T0 + 3000);
  assert.deepEqual(await vals(repo), ['203.0.113.7'], 'new run: banned again');
});
