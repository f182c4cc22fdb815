// The real crowdsec-firewall-bouncer (Debian package, ipset mode) against the
// aggregator, both inside a network namespace made for this test: the sets
// hold exactly the banned IPs and /64 ranges; deleted and expired decisions
// leave them; allowlisted, benign and forged (no ingest token) addresses
// never enter; a second bouncer key gets the full set at startup.
// Needs root, iproute2, ipset and crowdsec-firewall-bouncer: without them the
// test fails with the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { waitFor } from '../helpers/loopback';
import { ADMIN, KEY_A, KEY_B } from '../helpers/decisions';
import { createNetns, deleteNetns, ipsetMembers, requireNetns, sh, spawnIn, viaSocket } from '../helpers/netns';

const INGEST = 'ingest-token-for-the-bouncer-test';
const PORT = 9457; // inside the namespace: its own port space

function bouncerConfig(dir: string, name: string, key: string): string {
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    [
      'mode: ipset',
      `pid_dir: ${dir}`,
      'update_frequency: 1s',
      'daemonize: false',
      'log_mode: file',
      `log_dir: ${path.join(dir, name)}`,
      'log_level: debug',
      `api_url: http://127.0.0.1:${PORT}/`,
      `api_key: ${key}`,
      'insecure_skip_verify: false',
      'disable_ipv6: false',
      'deny_action: DROP',
      'deny_log: false',
      'supported_decisions_types:',
      '  - ban',
      `blacklists_ipv4: ${name}-v4`,
      `blacklists_ipv6: ${name}-v6`,
      'ipset_type: nethash',
      'iptables_chains: []',
      'prometheus:',
      '  enabled: false',
      '  listen_addr: 127.0.0.1',
      '  listen_port: 60601',
      '',
    ].join('\n'),
  );
  return file;
}

function records(ip: string, n: number, status: number) {
  const now = Date.now();
  return { records: Array.from({ length: n }, (_, i) => ({ ts: now - n + i, ip, status, service: 'orders' })) };
}

test('crowdsec-firewall-bouncer (ipset mode) enforces exactly the decisions', async (t) => {
  requireNetns();
  const ns = `kssiem-${process.pid}`;
  const dir = mkdtempSync(path.join(tmpdir(), 'siem-bouncer-'));
  const started: ChildProcess[] = [];
  const stop = async (c: ChildProcess) => {
    if (c.exitCode !== null || c.signalCode !== null) return;
    const gone = new Promise((ok) => c.once('exit', ok));
    c.kill('SIGTERM');
    await Promise.race([gone, new Promise((ok) => setTimeout(ok, 5000))]);
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };
  t.after(async () => {
    for (const c of started.reverse()) await stop(c);
    deleteNetns(ns);
    rmSync(dir, { recursive: true, force: true });
  });
  createNetns(ns);
  // the bouncer in ipset mode only fills sets that exist: the test makes them
  for (const name of ['ksa', 'ksb']) {
    sh(['ipset', 'create', `${name}-v4`, 'hash:net', 'timeout', '300', 'family', 'inet'], ns);
    sh(['ipset', 'create', `${name}-v6`, 'hash:net', 'timeout', '300', 'family', 'inet6'], ns);
  }

  const out: Record<string, string> = {};
  const keep = (name: string, c: ChildProcess) => {
    out[name] = '';
    c.stdout?.on('data', (d) => (out[name] += d));
    c.stderr?.on('data', (d) => (out[name] += d));
    started.push(c);
    return c;
  };
  const server = path.resolve(__dirname, '../../aggregator/server.js');
  keep(
    'aggregator',
    spawnIn(ns, [process.execPath, server], {
      SIEM_HOST: '127.0.0.1',
      SIEM_PORT: String(PORT),
      SIEM_LOG_LEVEL: 'warn',
      SIEM_INGEST_TOKEN: INGEST,
      SIEM_ADMIN_TOKEN: ADMIN,
      SIEM_BOUNCER_KEYS: `${KEY_A},${KEY_B}`,
      SIEM_ALLOWLIST: '10.0.0.0/8,2001:db8:aa::/48',
      SIEM_SWEEP_INTERVAL_MS: '200',
    }),
  );
  const sock = path.join(dir, 'agg.sock');
  keep('bridge', spawnIn(ns, [process.execPath, path.resolve(__dirname, '../helpers/netns.js'), sock, String(PORT)]));
  const call = (method: string, p: string, body?: unknown, headers: Record<string, string> = {}) =>
    viaSocket(sock, method, p, body, headers);
  await waitFor(
    'aggregator in the namespace',
    async () => existsSync(sock) && (await call('GET', '/healthz').catch(() => ({ status: 0 }))).status === 200,
    20_000,
    100,
  );

  const ingest = { authorization: `Bearer ${INGEST}` };
  const admin = { authorization: `Bearer ${ADMIN}` };
  for (const ip of ['203.0.113.7', '198.51.100.23', '2001:db8:1:2::99', '10.1.2.3', '2001:db8:aa:1::5']) {
    assert.equal((await call('POST', '/v1/records', records(ip, 30, 500), ingest)).status, 202);
  }
  assert.equal((await call('POST', '/v1/records', records('192.0.2.50', 60, 200), ingest)).status, 202);
  // forged records without the ingest token are refused and ban nobody
  assert.equal((await call('POST', '/v1/records', records('192.0.2.99', 60, 500))).status, 401);
  await waitFor(
    'three decisions',
    async () => (await call('GET', '/v1/admin/decisions', undefined, admin)).body.decisions?.length === 3,
    20_000,
    100,
  );

  const before = { v4: ipsetMembers(ns, 'ksa-v4'), v6: ipsetMembers(ns, 'ksa-v6') };
  keep('bouncer-a', spawnIn(ns, ['crowdsec-firewall-bouncer', '-c', bouncerConfig(dir, 'ksa', KEY_A)]));
  const setsA = () => ({ v4: ipsetMembers(ns, 'ksa-v4'), v6: ipsetMembers(ns, 'ksa-v6') });
  const want = { v4: ['198.51.100.23', '203.0.113.7'], v6: ['2001:db8:1:2::/64'] };
  await waitFor('bouncer A fills its sets', () => JSON.stringify(setsA()) === JSON.stringify(want), 30_000, 200).catch((err) => {
    throw new Error(`${(err as Error).message}: sets ${JSON.stringify(setsA())}; bouncer: ${out['bouncer-a']} ${readLog(dir, 'ksa')}`);
  });
  const filled = setsA();
  t.diagnostic(`sets before the bouncer: ${JSON.stringify(before)}; after its startup pull: ${JSON.stringify(filled)}`);
  // the ipset timeout is the decision's time left (4h default: within a minute of 14400 s)
  const timeout = Number(
    /timeout (\d+)/.exec(
      sh(['ipset', 'save', 'ksa-v4'], ns)
        .split('\n')
        .find((l) => l.includes('203.0.113.7')) ?? '',
    )?.[1],
  );
  assert.ok(timeout > 14_300 && timeout <= 14_400, `ipset timeout ${timeout}`);

  // a manual range and a short ban enter; an operator's delete and the expiry take them out
  const manual = await call('POST', '/v1/decisions', { value: '198.18.0.0/24', duration: '1h', reason: 'test' }, admin);
  assert.equal(manual.status, 201);
  // long enough to be seen in the set: its ipset entry lives only its time left after the bouncer's next
  // pull (1 s apart, later on a loaded machine), and the check below wants all four entries at once
  const short = await call('POST', '/v1/decisions', { value: '198.51.100.200', duration: '12s' }, admin);
  assert.equal(short.status, 201);
  assert.equal((await call('POST', '/v1/decisions', { value: '10.9.9.9', duration: '1h' }, admin)).status, 422);
  await waitFor(
    'manual bans in the set',
    () => setsA().v4.join() === '198.18.0.0/24,198.51.100.200,198.51.100.23,203.0.113.7',
    20_000,
    200,
  );
  const list = (await call('GET', '/v1/admin/decisions', undefined, admin)).body.decisions as { id: number; value: string }[];
  const victim = list.find((d) => d.value === '198.51.100.23') as { id: number };
  assert.equal((await call('DELETE', `/v1/decisions/${victim.id}`, undefined, admin)).status, 204);
  await waitFor('deleted and expired bans leave the set', () => setsA().v4.join() === '198.18.0.0/24,203.0.113.7', 30_000, 200);
  const afterDelete = setsA();
  t.diagnostic(`after deleting 198.51.100.23 and the 12s ban expiring: ${JSON.stringify(afterDelete)}`);

  // a second bouncer key, started now, gets the full set at startup
  keep('bouncer-b', spawnIn(ns, ['crowdsec-firewall-bouncer', '-c', bouncerConfig(dir, 'ksb', KEY_B)]));
  const setsB = () => ({ v4: ipsetMembers(ns, 'ksb-v4'), v6: ipsetMembers(ns, 'ksb-v6') });
  await waitFor('bouncer B gets the full set', () => JSON.stringify(setsB()) === JSON.stringify(afterDelete), 30_000, 200).catch((err) => {
    throw new Error(`${(err as Error).message}: sets ${JSON.stringify(setsB())}; bouncer: ${out['bouncer-b']} ${readLog(dir, 'ksb')}`);
  });
  t.diagnostic(`bouncer B after its startup pull: ${JSON.stringify(setsB())}`);

  // never banned, at any point: allowlisted, benign, forged
  for (const s of [setsA(), setsB()]) {
    for (const v of ['10.1.2.3', '192.0.2.50', '192.0.2.99']) assert.ok(!s.v4.includes(v), v);
    assert.ok(!s.v6.some((r) => r.startsWith('2001:db8:aa')), JSON.stringify(s.v6));
  }
  // both bouncers are pulling, and the metric says so without naming the keys
  const metrics = String((await call('GET', '/metrics')).body);
  const ages = [...metrics.matchAll(/^kong_siem_bouncer_last_pull_seconds\{bouncer="([0-9a-f]{8})"\} (\S+)$/gm)];
  assert.equal(ages.length, 2, metrics);
  for (const [, , age] of ages) assert.ok(Number(age) < 10, `last pull ${age} s ago`);
  assert.ok(!metrics.includes(KEY_A) && !metrics.includes(KEY_B));
});

function readLog(dir: string, name: string): string {
  try {
    return readFileSync(path.join(dir, name, 'crowdsec-firewall-bouncer.log'), 'utf8').slice(-3000);
  } catch {
    return '(no bouncer log)';
  }
}
