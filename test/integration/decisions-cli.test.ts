// `kong-siem decisions list|add|delete|export|sync` as a user runs them,
// against a real aggregator on loopback and, for sync, a stand-in Kong Admin
// API that checks each request against Kong's documented shapes (a real Kong
// is not available to the tests).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { parse as parseYaml } from 'yaml';
import { startAggregator } from '../helpers/aggregator';
import { runCli, CLI } from '../helpers/cli';
import { waitFor } from '../helpers/loopback';
import { ADMIN, KEY_A, attack } from '../helpers/decisions';
import { startStandInKong } from '../helpers/kong-admin';

const env = { SIEM_BOUNCER_KEYS: KEY_A, SIEM_ADMIN_TOKEN: ADMIN, SIEM_ALLOWLIST: '10.0.0.0/8', SIEM_SWEEP_INTERVAL_MS: '60000' };

test('decisions list, add, delete and export --format kong', async (t) => {
  const agg = await startAggregator(env);
  t.after(() => agg.close());
  await attack(agg.url, '203.0.113.7');
  await attack(agg.url, '2001:db8:1:2::7');
  await agg.decisions.reconcileNow();

  const added = await runCli([
    'decisions',
    'add',
    '198.51.100.9',
    '--url',
    agg.url,
    '--token',
    ADMIN,
    '--duration',
    '30m',
    '--reason',
    'abuse desk',
  ]);
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, /^\d+ 198\.51\.100\.9 Ip 30m0s\n$/);
  const manualId = Number(added.stdout.split(' ')[0]);

  const refused = await runCli(['decisions', 'add', '10.1.1.1', '--url', agg.url], { env: { SIEM_ADMIN_TOKEN: ADMIN } });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /422 .*allowlisted/);
  const unauth = await runCli(['decisions', 'add', '198.51.100.10', '--url', agg.url, '--token', 'wrong']);
  assert.equal(unauth.code, 1);
  assert.match(unauth.stderr, /401/);

  const list = await runCli(['decisions', 'list', '--url', agg.url], { env: { SIEM_ADMIN_TOKEN: ADMIN } });
  assert.equal(list.code, 0, list.stderr);
  const lines = list.stdout.trim().split('\n');
  assert.match(lines[0] as string, /^ID\s+VALUE\s+SCOPE\s+ORIGIN\s+SCENARIO\s+LEFT\s+EVIDENCE$/);
  assert.equal(lines.length, 4);
  assert.ok(
    lines.some((l) => /203\.0\.113\.7\s+Ip\s+kong-siem\s+kong-siem\/error_ip\s+\S+\s+error_ip on orders: 30 \(ratio 1\)/.test(l)),
    list.stdout,
  );
  assert.ok(lines.some((l) => /2001:db8:1:2::\/64\s+Range/.test(l)));
  assert.ok(lines.some((l) => /198\.51\.100\.9 .* abuse desk$/.test(l)));
  const json = await runCli(['decisions', 'list', '--url', agg.url, '--token', ADMIN, '--json']);
  assert.equal(JSON.parse(json.stdout).length, 3);

  const exported = await runCli([
    'decisions',
    'export',
    '--format',
    'kong',
    '--url',
    agg.url,
    '--api-key',
    KEY_A,
    '--service',
    'orders',
    '--status',
    '403',
  ]);
  assert.equal(exported.code, 0, exported.stderr);
  const doc = parseYaml(exported.stdout);
  assert.equal(doc._format_version, '3.0');
  assert.equal(doc.plugins.length, 1);
  assert.deepEqual(doc.plugins[0], {
    name: 'ip-restriction',
    service: 'orders',
    config: { deny: ['198.51.100.9', '2001:db8:1:2::/64', '203.0.113.7'], status: 403 },
  });
  assert.equal((await runCli(['decisions', 'export', '--url', agg.url, '--token', ADMIN])).code, 2, '--format is required');

  const del = await runCli(['decisions', 'delete', String(manualId), '--url', agg.url, '--token', ADMIN]);
  assert.equal(del.code, 0, del.stderr);
  const again = await runCli(['decisions', 'delete', String(manualId), '--url', agg.url, '--token', ADMIN]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /404/);
  const after = parseYaml((await runCli(['decisions', 'export', '--format', 'kong', '--url', agg.url, '--token', ADMIN])).stdout);
  assert.deepEqual(after.plugins[0].config.deny, ['2001:db8:1:2::/64', '203.0.113.7']);
});

test('decisions delete with filters takes back the bans an outage left on one service, in one command; --dry-run deletes nothing', async (t) => {
  const agg = await startAggregator(env);
  t.after(() => agg.close());
  // Every client of orders failing at once (its upstream down), one real attacker on billing, one manual ban.
  const outage = ['203.0.113.1', '203.0.113.2', '203.0.113.3', '2001:db8:1:2::7'];
  for (const ip of outage) assert.equal(await attack(agg.url, ip), 202);
  assert.equal(await attack(agg.url, '198.51.100.66', 30, {}, 'billing'), 202);
  await agg.decisions.reconcileNow();
  assert.equal((await runCli(['decisions', 'add', '198.51.100.9', '--url', agg.url, '--token', ADMIN])).code, 0);
  const values = async () =>
    (JSON.parse((await runCli(['decisions', 'list', '--json', '--url', agg.url, '--token', ADMIN])).stdout) as { value: string }[])
      .map((d) => d.value)
      .sort();
  const all = await values();
  assert.equal(all.length, 6);

  const cmd = [
    'decisions',
    'delete',
    '--service',
    'orders',
    '--scenario',
    'kong-siem/error_ip',
    '--since',
    '30m',
    '--url',
    agg.url,
    '--token',
    ADMIN,
  ];
  const dry = await runCli([...cmd, '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /would delete 4 \(dry run\)\n$/);
  for (const ip of ['203.0.113.1', '203.0.113.2', '203.0.113.3', '2001:db8:1:2::/64']) assert.ok(dry.stdout.includes(ip), ip);
  assert.ok(!dry.stdout.includes('198.51.100.66') && !dry.stdout.includes('198.51.100.9'), 'billing and the manual ban are not selected');
  assert.deepEqual(await values(), all, 'a dry run deletes nothing');

  const real = await runCli(cmd);
  assert.equal(real.code, 0, real.stderr);
  assert.match(real.stdout, /deleted 4 of 4 selected\n$/);
  assert.deepEqual(await values(), ['198.51.100.66', '198.51.100.9']);
  // the same filters again: nothing left to take back
  assert.match((await runCli(cmd)).stdout, /^deleted 0 of 0 selected\n$/);
  // --since selects by when a decision was made: none was made in the future
  assert.match(
    (await runCli(['decisions', 'delete', '--origin', 'manual', '--since', '1ms', '--dry-run', '--url', agg.url, '--token', ADMIN])).stdout,
    /^would delete 0 \(dry run\)\n$/,
  );
  assert.match(
    (await runCli(['decisions', 'delete', '--origin', 'manual', '--dry-run', '--url', agg.url, '--token', ADMIN])).stdout,
    /198\.51\.100\.9[\s\S]*would delete 1 \(dry run\)/,
  );

  // usage errors: no id and no filter, both at once, a bad duration
  for (const args of [[], ['5', '--service', 'orders'], ['--since', 'soon']]) {
    const r = await runCli(['decisions', 'delete', ...args, '--url', agg.url, '--token', ADMIN]);
    assert.equal(r.code, 2, args.join(' '));
  }
  assert.match(
    (await runCli(['decisions', 'delete', '--url', agg.url, '--token', ADMIN])).stderr,
    /needs an id, or at least one of --service/,
  );
  assert.deepEqual(await values(), ['198.51.100.66', '198.51.100.9'], 'nothing deleted by a usage error');
});

test('decisions sync keeps an ip-restriction deny list equal to the active bans through the Admin API', async (t) => {
  const agg = await startAggregator(env);
  t.after(() => agg.close());
  const kong = await startStandInKong({ deny: ['192.0.2.255'] });
  t.after(() => kong.close());
  const sync = (extra: string[] = []) =>
    runCli([
      'decisions',
      'sync',
      '--once',
      '--url',
      agg.url,
      '--token',
      ADMIN,
      '--admin-url',
      kong.url,
      '--plugin-id',
      kong.plugin.id,
      '--admin-header',
      'Kong-Admin-Token: rbac',
      ...extra,
    ]);

  await attack(agg.url, '203.0.113.7');
  await attack(agg.url, '2001:db8:1:2::7');
  await agg.decisions.reconcileNow();
  const first = await sync();
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /synced: 2 denied \(\+2 -1\)/);
  assert.deepEqual(kong.plugin.config.deny, ['2001:db8:1:2::/64', '203.0.113.7']);
  assert.equal(kong.plugin.enabled, true);
  // in sync: a GET and no PATCH
  const before = kong.log.length;
  const second = await sync();
  assert.match(second.stdout, /in sync: 2 denied/);
  assert.deepEqual(
    kong.log.slice(before).map((e) => e.method),
    ['GET'],
  );

  // every decision gone: ip-restriction needs allow or deny non-empty, so the plugin is disabled
  for (const d of await agg.decisions.service.list()) await agg.decisions.service.remove(d.id);
  const emptied = await sync();
  assert.equal(emptied.code, 0, emptied.stderr);
  assert.match(emptied.stdout, /plugin disabled/);
  assert.equal(kong.plugin.enabled, false);

  // continuous mode: a new ban reaches Kong within a few rounds, and the plugin is enabled again
  const child = spawn(
    process.execPath,
    [
      CLI,
      'decisions',
      'sync',
      '--interval',
      '1',
      '--url',
      agg.url,
      '--token',
      ADMIN,
      '--admin-url',
      kong.url,
      '--plugin-id',
      kong.plugin.id,
    ],
    { stdio: 'ignore' },
  );
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGTERM');
  });
  await agg.decisions.service.add('198.51.100.77', 3600_000, 'test');
  await waitFor('the ban in Kong', async () => kong.plugin.enabled && kong.plugin.config.deny?.join() === '198.51.100.77', 20_000);
  child.kill('SIGTERM');

  // every request the client made passed the stand-in's checks of Kong's shapes
  assert.deepEqual(
    kong.log.filter((e) => e.status !== 200),
    [],
  );
  assert.ok(kong.log.filter((e) => e.method === 'PATCH').length >= 3);
  const wrongId = await runCli([
    'decisions',
    'sync',
    '--once',
    '--url',
    agg.url,
    '--token',
    ADMIN,
    '--admin-url',
    kong.url,
    '--plugin-id',
    'nope',
  ]);
  assert.equal(wrongId.code, 1);
  assert.match(wrongId.stderr, /404 Not found/);
});
