// Case 9: the decision endpoints at 10,000 active decisions (SIEM_MAX_DECISIONS
// full): a bouncer's startup pull (every decision), an incremental pull, live
// lookups (hit in a Range, miss) and the admin listing, over HTTP on loopback,
// with the in-memory store and with the shared Redis store. Baseline:
// GET /healthz on the same connection, same run. The target: each
// answer under 50 ms.
import os from 'node:os';
import { loadConfig } from '../../aggregator/config';
import { buildApp, type Siem } from '../../aggregator/app';
import { startRedis, requireRedisServer, type RunningRedis } from '../../test/helpers/redis';
import { ratioOf, type CaseOptions, type Row } from '../result';
import { say } from '../progress';

const CASE = '9 decisions';
const DECISIONS = 10_000;
export const TARGET_MS = 50;
const KEY = 'bench-bouncer-key-0123456789abcdef';
const ADMIN = 'bench-admin-token';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** Median wall time and median CPU time of this process (server and client both live here) per call, ms. */
async function timeIt(n: number, fn: () => Promise<unknown>): Promise<{ wall: number; cpu: number }> {
  for (let i = 0; i < 3; i++) await fn();
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < n; i++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await fn();
    wall.push(Number(process.hrtime.bigint() - t0) / 1e6);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { wall: median(wall), cpu: median(cpu) };
}

/** 10,000 error_ip findings: 9,000 IPv4 addresses and 1,000 IPv6 /64s. */
function findings(now: number) {
  return Array.from({ length: DECISIONS }, (_, i) => ({
    type: 'error_ip',
    service: 'orders',
    ip: i < 9000 ? `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` : `2001:db8:${(i - 9000).toString(16)}:1::/64`,
    count: 20 + (i % 50),
    ratio: 1,
    since: now - 1000,
  }));
}

async function measure(label: string, siem: Siem, runs: number): Promise<Row[]> {
  await siem.app.listen({ host: '127.0.0.1', port: 0 });
  const addr = siem.app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('no address');
  const base = `http://127.0.0.1:${addr.port}`;
  await siem.decisions.service.reconcile(findings(Date.now()));
  const active = (await siem.decisions.service.list()).length;
  if (active !== DECISIONS) throw new Error(`${active} decisions active, expected ${DECISIONS}`);
  const get = async (path: string, headers: Record<string, string>, check?: (body: string) => void) => {
    const res = await fetch(base + path, { headers });
    const body = await res.text();
    if (res.status !== 200) throw new Error(`${path}: ${res.status} ${body.slice(0, 200)}`);
    check?.(body);
  };
  const key = { 'x-api-key': KEY };
  const health = await timeIt(runs, () => get('/healthz', {}));
  const cases: [string, () => Promise<void>][] = [
    ['stream startup=true (10k in new)', () => get('/v1/decisions/stream?startup=true', key, (b) => {
      if ((JSON.parse(b) as { new: unknown[] }).new.length !== DECISIONS) throw new Error('startup pull not whole');
    })],
    ['stream incremental (nothing new)', () => get('/v1/decisions/stream?', key)],
    ['live ?ip= hit (in a /64 Range)', () => get('/v1/decisions?ip=2001:db8:3e7:1::abcd', key, (b) => {
      if (b === 'null') throw new Error('live lookup missed');
    })],
    ['live ?ip= miss', () => get('/v1/decisions?ip=192.0.2.1', key, (b) => {
      if (b !== 'null') throw new Error('live lookup hit');
    })],
    ['admin listing (10k with evidence)', () => get('/v1/admin/decisions', { authorization: `Bearer ${ADMIN}` })],
  ];
  const rows: Row[] = [];
  for (const [name, fn] of cases) {
    const t = await timeIt(runs, fn);
    rows.push({
      case: CASE,
      name: `${label}: ${name}`,
      value: t.wall,
      unit: 'ms',
      baseline: { name: 'GET /healthz', value: health.wall },
      ratio: ratioOf(t.wall, health.wall),
      target: `< ${TARGET_MS} ms`,
      met: t.wall < TARGET_MS,
      note: `median wall time, body read${name.startsWith('stream startup') ? ' and parsed' : ''}; CPU time of server + client per answer ${t.cpu.toFixed(1)} ms (healthz ${health.cpu.toFixed(1)} ms); load average ${os.loadavg()[0]?.toFixed(1)} on ${os.cpus().length} cores`,
    });
  }
  return rows;
}

export async function run(o: CaseOptions): Promise<Row[]> {
  const runs = o.quick ? 5 : 25;
  const env = { SIEM_LOG_LEVEL: 'silent', SIEM_BOUNCER_KEYS: KEY, SIEM_ADMIN_TOKEN: ADMIN, SIEM_SWEEP_INTERVAL_MS: '60000' };
  const rows: Row[] = [];
  const mem = buildApp(loadConfig(env), { logger: false });
  try {
    say(`${CASE}: in-memory store, ${DECISIONS} decisions`);
    rows.push(...(await measure('memory', mem, runs)));
  } finally {
    await mem.app.close();
  }
  let redis: RunningRedis | undefined;
  try {
    requireRedisServer();
    redis = await startRedis();
    const shared = buildApp(loadConfig({ ...env, SIEM_STATE: redis.url }), { logger: false });
    try {
      say(`${CASE}: Redis store, ${DECISIONS} decisions`);
      await new Promise((ok) => setTimeout(ok, 300)); // let the clients connect
      rows.push(...(await measure('redis', shared, runs)));
    } finally {
      await shared.app.close();
    }
  } catch (err) {
    rows.push({ case: CASE, name: 'redis', unavailable: (err as Error).message });
  } finally {
    await redis?.close();
  }
  return rows;
}
