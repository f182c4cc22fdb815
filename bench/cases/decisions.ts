// Case 9: the decision endpoints at 10,000 active decisions (SIEM_MAX_DECISIONS
// full): a bouncer's startup pull (every decision), an incremental pull, the
// first pulls after one decision changed and after 1,000 were replaced (the
// active set brought forward by the store's change log), live lookups (hit
// in a Range, miss), the admin listing, and an operator's POST and DELETE,
// over HTTP on loopback, with the in-memory store and with the shared Redis
// store. On Redis a second aggregator answers the same bouncer too: its set
// is brought forward by its background follower (once a second), or at its
// first read when that comes sooner ("first after"); the writer brings its
// own forward when it writes. The target: each answer under 50 ms.
//
// Baseline, same run: the transport floor, a bare fastify route in this
// process answering a fixed copy of the same bytes (the startup answer for
// the startup rows, an answer of 1,000 new + 1,000 deleted for the
// incremental rows after a replacement, the listing for the listing rows),
// timed alternately with the endpoint so that the machine's load falls on
// both alike; a fixed 15 B answer for the small answers. The client (fetch) only reads the body in the timed
// loop, as a bouncer receives it; each answer is parsed and checked outside.
import os from 'node:os';
import Fastify, { type FastifyInstance } from 'fastify';
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

interface Timing {
  wall: number;
  cpu: number;
}

/** Median wall and CPU time (this process: server and client) per call of `fn` and of `base`, run alternately, ms. */
async function timePair(
  n: number,
  fn: () => Promise<unknown>,
  base: () => Promise<unknown>,
  before?: () => Promise<unknown>,
): Promise<[Timing, Timing]> {
  const one = async (f: () => Promise<unknown>, wall: number[], cpu: number[]) => {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await f();
    wall.push(Number(process.hrtime.bigint() - t0) / 1e6);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  };
  const w: [number[], number[]] = [[], []];
  const c: [number[], number[]] = [[], []];
  for (let i = 0; i < 3; i++) {
    await before?.();
    await fn();
    await base();
  }
  for (let i = 0; i < n; i++) {
    await before?.();
    await one(fn, w[0], c[0]);
    await one(base, w[1], c[1]);
  }
  return [
    { wall: median(w[0]), cpu: median(c[0]) },
    { wall: median(w[1]), cpu: median(c[1]) },
  ];
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

/** A bare fastify route answering fixed bytes: what any answer of that size costs on this transport. */
async function floorServer(bodies: Record<string, Buffer>): Promise<{ app: FastifyInstance; base: string }> {
  const app = Fastify({ logger: false });
  app.get<{ Params: { name: string } }>('/:name', async (req, reply) => reply.type('application/json').send(bodies[req.params.name]));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('no address');
  return { app, base: `http://127.0.0.1:${addr.port}` };
}

async function listen(siem: Siem): Promise<string> {
  await siem.app.listen({ host: '127.0.0.1', port: 0 });
  const addr = siem.app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('no address');
  return `http://127.0.0.1:${addr.port}`;
}

/** `other`: a second aggregator on the same store, which the bouncer also pulls from (its set is brought forward at its first read) */
async function measure(label: string, siem: Siem, runs: number, other?: Siem): Promise<Row[]> {
  const base = await listen(siem);
  const otherBase = other ? await listen(other) : undefined;
  const service = siem.decisions.service;
  await service.reconcile(findings(Date.now()));
  const active = (await service.list()).length;
  if (active !== DECISIONS) throw new Error(`${active} decisions active, expected ${DECISIONS}`);
  const fetchBody = async (url: string, headers: Record<string, string> = {}): Promise<Buffer> => {
    const res = await fetch(url, { headers });
    const body = Buffer.from(await res.arrayBuffer());
    if (res.status !== 200) throw new Error(`${url}: ${res.status} ${body.toString().slice(0, 200)}`);
    return body;
  };
  // the live lookups' hit: a manual Range ban, which the replacement rounds below never displace
  await service.add('2001:db8:ffff:1::/64', 3_600_000, 'bench');
  const key = { 'x-api-key': KEY };
  const admin = { authorization: `Bearer ${ADMIN}` };
  // checked once, outside the timed loops
  const startup = await fetchBody(`${base}/v1/decisions/stream?startup=true`, key);
  if ((JSON.parse(startup.toString()) as { new: unknown[] }).new.length !== DECISIONS) throw new Error('startup pull not whole');
  const listing = await fetchBody(`${base}/v1/admin/decisions`, admin);
  if ((JSON.parse(listing.toString()) as { decisions: unknown[] }).decisions.length !== DECISIONS) throw new Error('listing not whole');
  if ((await fetchBody(`${base}/v1/decisions?ip=2001:db8:ffff:1::abcd`, key)).toString() === 'null') throw new Error('live lookup missed');
  if ((await fetchBody(`${base}/v1/decisions?ip=192.0.2.1`, key)).toString() !== 'null') throw new Error('live lookup hit');

  // one manual ban per round on a fresh address (displacing the weakest automatic one): a new version
  let changed = 0;
  const change = () => service.add(`198.18.${(changed >> 8) & 255}.${changed++ & 255}`, 3_600_000, 'bench');
  // 1,000 stronger findings per round: 1,000 new decisions displace the 1,000 weakest automatic ones
  let round = 0;
  const replace = async () => {
    const k = round++;
    if (k >= 256) throw new Error('out of replacement rounds');
    const now = Date.now();
    const fs = Array.from({ length: 1000 }, (_, j) => ({
      type: 'error_ip',
      service: 'orders',
      ip: `100.${64 + (k & 63)}.${(k >> 6) * 4 + (j >> 8)}.${j & 255}`,
      count: 1000 + k,
      ratio: 1,
      since: now - 1000,
    }));
    let alive = 0;
    for (const c of (await service.counts()).values()) alive += c.n;
    const n = await service.reconcile(fs);
    // 1,000 added, and as many of the weakest removed as take the set past SIEM_MAX_DECISIONS
    const want = 1000 + Math.max(0, alive + 1000 - DECISIONS);
    if (n !== want) throw new Error(`a replacement round changed ${n} decisions, expected ${want}`);
  };
  const send = async (method: string, path: string, body?: unknown): Promise<Buffer> => {
    const res = await fetch(base + path, {
      method,
      headers: { ...admin, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const out = Buffer.from(await res.arrayBuffer());
    if (res.status !== (method === 'POST' ? 201 : 204)) throw new Error(`${method} ${path}: ${res.status} ${out.toString().slice(0, 200)}`);
    return out;
  };
  let posted = 0;
  const post = () => send('POST', '/v1/decisions', { value: `198.19.${(posted >> 8) & 255}.${posted++ & 255}`, duration: '1h' });
  let lastId = 0;
  const postOne = async () => (lastId = (JSON.parse((await post()).toString()) as { id: number }).id);
  const get =
    (path: string, headers: Record<string, string>, at = base) =>
    () =>
      fetchBody(at + path, headers);
  // the transport floor of an incremental answer after a replacement round (1,000 in new, 1,000 in deleted)
  await replace();
  const replaced = await fetchBody(`${base}/v1/decisions/stream`, key);
  const pulledBack = JSON.parse(replaced.toString()) as { new: unknown[]; deleted: unknown[] };
  if (pulledBack.new.length !== 1000 || pulledBack.deleted.length !== 1000) throw new Error('a replacement round is not 1,000 + 1,000');
  const bodies: Record<string, Buffer> = { startup, listing, replaced, healthz: Buffer.from('{"status":"ok"}') };
  const floor = await floorServer(bodies);
  const floorOf = (name: string) => () => fetchBody(`${floor.base}/${name}`);
  const cases: [string, () => Promise<unknown>, string, (() => Promise<unknown>)?][] = [
    ['stream startup=true (10k in new)', get('/v1/decisions/stream?startup=true', key), 'startup'],
    ['stream startup=true, first after one change', get('/v1/decisions/stream?startup=true', key), 'startup', change],
    ['stream incremental (nothing new)', get('/v1/decisions/stream', key), 'healthz'],
    ['stream incremental, first after one change', get('/v1/decisions/stream', key), 'healthz', change],
    ['stream incremental, first after 1,000 replaced', get('/v1/decisions/stream', key), 'replaced', replace],
    ['stream startup=true, first after 1,000 replaced', get('/v1/decisions/stream?startup=true', key), 'startup', replace],
    ['live ?ip= hit (in a /64 Range)', get('/v1/decisions?ip=2001:db8:ffff:1::abcd', key), 'healthz'],
    ['live ?ip= hit, first after one change', get('/v1/decisions?ip=2001:db8:ffff:1::abcd', key), 'healthz', change],
    ['live ?ip= miss', get('/v1/decisions?ip=192.0.2.1', key), 'healthz'],
    ['admin listing (10k with evidence)', get('/v1/admin/decisions', admin), 'listing'],
    ['admin listing, first after one change', get('/v1/admin/decisions', admin), 'listing', change],
    ['operator POST /v1/decisions (displaces the weakest)', post, 'healthz'],
    ['operator DELETE /v1/decisions/<id>', () => send('DELETE', `/v1/decisions/${lastId}`), 'healthz', postOne],
  ];
  if (otherBase && other) {
    const o = otherBase;
    // untimed: the other aggregator's background follower brought its set to the writer's version
    const caughtUp = async () => {
      const want = JSON.stringify(service.cachedVersion());
      for (let i = 0; JSON.stringify(other.decisions.service.cachedVersion()) !== want; i++) {
        if (i > 500) throw new Error('the other aggregator did not follow within 10 s');
        await new Promise((ok) => setTimeout(ok, 20));
      }
    };
    const replaceFollowed = async () => {
      await replace();
      await caughtUp();
    };
    cases.push(
      [
        'other aggregator: stream incremental, 1,000 replaced, after its follower',
        get('/v1/decisions/stream', key, o),
        'replaced',
        replaceFollowed,
      ],
      [
        'other aggregator: stream startup=true, 1,000 replaced, after its follower',
        get('/v1/decisions/stream?startup=true', key, o),
        'startup',
        replaceFollowed,
      ],
      ['other aggregator: stream incremental, first after 1,000 replaced', get('/v1/decisions/stream', key, o), 'replaced', replace],
      [
        'other aggregator: stream startup=true, first after 1,000 replaced',
        get('/v1/decisions/stream?startup=true', key, o),
        'startup',
        replace,
      ],
      ['other aggregator: live ?ip= hit, first after one change', get('/v1/decisions?ip=2001:db8:ffff:1::abcd', key, o), 'healthz', change],
      ['other aggregator: admin listing, first after one change', get('/v1/admin/decisions', admin, o), 'listing', change],
    );
  }
  const rows: Row[] = [];
  try {
    for (const [name, fn, floorName, before] of cases) {
      const [t, b] = await timePair(runs, fn, floorOf(floorName), before);
      const baseName = `fixed ${(bodies[floorName] as Buffer).length.toLocaleString('en')} B answer`;
      rows.push({
        case: CASE,
        name: `${label}: ${name}`,
        value: t.wall,
        unit: 'ms',
        baseline: { name: baseName, value: b.wall },
        ratio: ratioOf(t.wall, b.wall),
        target: `< ${TARGET_MS} ms`,
        met: t.wall < TARGET_MS,
        note: `median wall time to the last byte; CPU time of server + client per answer ${t.cpu.toFixed(1)} ms (floor ${b.cpu.toFixed(1)} ms); load average ${os.loadavg()[0]?.toFixed(1)} on ${os.cpus().length} cores`,
      });
    }
  } finally {
    await floor.app.close();
  }
  return rows;
}

export async function run(o: CaseOptions): Promise<Row[]> {
  const runs = o.quick ? 7 : 25;
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
    const second = buildApp(loadConfig({ ...env, SIEM_STATE: redis.url }), { logger: false });
    try {
      say(`${CASE}: Redis store, ${DECISIONS} decisions, two aggregators`);
      await new Promise((ok) => setTimeout(ok, 300)); // let the clients connect
      rows.push(...(await measure('redis', shared, runs, second)));
    } finally {
      await shared.app.close();
      await second.app.close();
    }
  } catch (err) {
    rows.push({ case: CASE, name: 'redis', unavailable: (err as Error).message });
  } finally {
    await redis?.close();
  }
  return rows;
}
