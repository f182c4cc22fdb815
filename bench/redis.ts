// Case 10 of `npm run bench`: ingest records/s of the memory backend, one
// aggregator on Redis, two aggregators sharing one Redis (each on its own
// core: placement below) and one aggregator on a 3-master Redis Cluster,
// in the same run, over HTTP with the same pre-serialized batches. Redis's
// own CPU per record is read from INFO cpu (used_cpu_user + used_cpu_sys
// deltas over the timed part, summed over the masters), its memory per
// tracked key from INFO memory, and the aggregator's peak RSS for one
// maximal batch from /proc (VmHWM), memory backend vs Redis; the
// aggregators' own CPU per record from /proc/<pid>/stat, for the per-part
// costs in docs/redis.md.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, startRedis, waitFor } from '../test/helpers/redis';
import { startCluster } from '../test/helpers/redis-cluster';
import { allCores, coreCount, cores, hasTaskset, pinPid, pinSelf, spawnNode } from './pin';

export interface RedisBenchArgs {
  records: number;
  batch: number;
  concurrency: number;
}

/** Deterministic traffic: 20k IPs (a few heavy), 5% failures, a credential on 10%, 4 services, ts rising. */
export function batches(a: RedisBenchArgs, t0 = 1_717_800_000_000): string[] {
  let seed = 7;
  const rnd = () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out: string[] = [];
  for (let i = 0; i < a.records; i += a.batch) {
    const records = [];
    for (let j = i; j < Math.min(a.records, i + a.batch); j++) {
      const heavy = rnd() < 0.2;
      const n = heavy ? Math.floor(rnd() * 50) : Math.floor(rnd() * 20_000);
      const ip = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
      const r: Record<string, unknown> = { ts: t0 + Math.floor(j / 10), ip, status: rnd() < 0.05 ? 401 : 200, service: `svc-${n % 4}` };
      if (n % 10 === 0) r.credential = `cred-${Math.floor(n / 30)}`;
      records.push(r);
    }
    out.push(JSON.stringify({ records }));
  }
  return out;
}

interface Child {
  url: string;
  proc: ChildProcess;
}

async function startAggregator(outDir: string, core: number, env: Record<string, string>): Promise<Child> {
  const port = await freePort();
  const proc = spawnNode(core, [path.join(outDir, 'aggregator', 'server.js')], {
    env: { ...process.env, SIEM_HOST: '127.0.0.1', SIEM_PORT: String(port), SIEM_LOG_LEVEL: 'warn', SIEM_CLOCK: 'event', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    `aggregator on ${url}`,
    async () => {
      if (proc.exitCode !== null) throw new Error(`aggregator exited with ${proc.exitCode}`);
      return fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      );
    },
    20_000,
  );
  return { url, proc };
}

async function stop(c: Child): Promise<void> {
  if (c.proc.exitCode !== null) return;
  const exited = new Promise((r) => c.proc.once('exit', r));
  c.proc.kill('SIGTERM');
  await exited;
}

/** Post every batch, `concurrency` in flight, round-robin over the aggregators; returns records/s. */
async function drive(children: Child[], bodies: readonly string[], concurrency: number): Promise<{ rps: number; accepted: number }> {
  let next = 0;
  let accepted = 0;
  const t0 = process.hrtime.bigint();
  const worker = async () => {
    for (let i = next++; i < bodies.length; i = next++) {
      const c = children[i % children.length] as Child;
      const res = await fetch(`${c.url}/v1/records`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: bodies[i] });
      const body = (await res.json()) as { accepted?: number };
      if (res.status !== 202) throw new Error(`${c.url} answered ${res.status}: ${JSON.stringify(body)}`);
      accepted += body.accepted ?? 0;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return { rps: accepted / s, accepted };
}

function info(port: number, section: string): Record<string, string> {
  const out = spawnSync('redis-cli', ['-p', String(port), 'INFO', section], { encoding: 'utf8' }).stdout;
  return Object.fromEntries(
    out
      .split('\r\n')
      .filter((l) => l.includes(':'))
      .map((l) => l.split(':', 2) as [string, string]),
  );
}
const cpuSeconds = (ports: number[]) =>
  ports.reduce((s, p) => {
    const i = info(p, 'cpu');
    return s + Number(i.used_cpu_user ?? 0) + Number(i.used_cpu_sys ?? 0);
  }, 0);
/** CPU seconds (user + sys) a process has used, from /proc/<pid>/stat (clock ticks of 10 ms). */
function procCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / 100;
}
const usedMemory = (ports: number[]) => ports.reduce((s, p) => s + Number(info(p, 'memory').used_memory ?? 0), 0);

/**
 * Where case 10's processes run: aggregator i on a core of its own (1, then
 * 2, ...; on 2 cores the second aggregator takes core 0), Redis and the load
 * generator (this process) on every core, left to the scheduler. The same
 * for every run of the case, memory baseline included. On 2 cores there is
 * no core left for Redis and the load generator alone: pinning them to one
 * would leave that core the bottleneck of two aggregators by construction.
 */
export function aggregatorCore(i: number): number {
  const n = coreCount();
  return n < 2 ? 0 : (1 + i) % n;
}

export function placement(n: number): string {
  if (!hasTaskset()) return 'unpinned (no taskset)';
  const aggs = Array.from({ length: n }, (_, i) => `aggregator ${i + 1} on core ${aggregatorCore(i)}`).join(', ');
  return `${coreCount()} cores: ${aggs}; Redis and load generator on cores ${allCores()}`;
}

export interface CaseResult {
  name: string;
  /** where the processes ran */
  placement: string;
  /** the load generator's CPU per record, µs */
  loadgen_cpu_us: number;
  aggregators: number;
  records_per_s: number;
  /** Redis CPU per record, µs (undefined for memory) */
  redis_cpu_us?: number;
  /** the aggregators' CPU per record, µs (summed over them) */
  aggregator_cpu_us: number;
  /** Redis memory per tracked key, bytes */
  redis_bytes_per_key?: number;
  tracked_keys: number;
}

async function trackedKeys(url: string): Promise<number> {
  const m = /^kong_siem_tracked_keys (\d+)/m.exec(await (await fetch(`${url}/metrics`)).text());
  return Number(m?.[1] ?? 0);
}

export async function runCase(
  outDir: string,
  name: string,
  n: number,
  backend: 'memory' | 'redis' | 'cluster',
  bodies: readonly string[],
  a: RedisBenchArgs,
): Promise<CaseResult> {
  // Redis (started from here) and this load generator on every core; restored at the end
  pinSelf(allCores());
  const redis = backend === 'redis' ? await startRedis() : undefined;
  const cluster = backend === 'cluster' ? await startCluster() : undefined;
  const ports = redis ? [redis.port] : cluster ? cluster.nodes.map((x) => x.port) : [];
  for (const pid of [redis?.pid(), ...(cluster?.nodes ?? []).map((x) => x.proc.pid)]) if (pid !== undefined) pinPid(pid, allCores());
  const state = redis?.url ?? cluster?.url;
  const children: Child[] = [];
  const memEmpty = usedMemory(ports);
  try {
    for (let i = 0; i < n; i++) children.push(await startAggregator(outDir, aggregatorCore(i), state ? { SIEM_STATE: state } : {}));
    // warm-up, not timed (JIT, script cache, connections): the first 5% of
    // batches, and at least 10 per aggregator (with 3 batches the JIT's work
    // fell in the timed part, twice over with two aggregators)
    const warm = Math.min(Math.floor(bodies.length / 4), Math.max(10 * n, Math.floor(bodies.length / 20)));
    await drive(children, bodies.slice(0, warm), a.concurrency);
    const aggCpu = () => children.reduce((s, ch) => s + procCpuSeconds(ch.proc.pid), 0);
    const cpu0 = cpuSeconds(ports);
    const agg0 = aggCpu();
    const load0 = process.cpuUsage();
    const { rps, accepted } = await drive(children, bodies.slice(warm), a.concurrency);
    const load = process.cpuUsage(load0);
    const cpu = cpuSeconds(ports) - cpu0;
    const agg = aggCpu() - agg0;
    // every aggregator must see the same state: one window count, asked of each
    const seen = await Promise.all(
      children.map((ch) =>
        fetch(`${ch.url}/v1/top?service=svc-0`).then((x) => x.json() as Promise<{ other: number; items: { count: number }[] }>),
      ),
    );
    const totals = seen.map((t) => t.other + t.items.reduce((s, x) => s + x.count, 0));
    if (new Set(totals).size !== 1) throw new Error(`${name}: aggregators disagree on svc-0's window: ${totals.join(' vs ')}`);
    const keys = await trackedKeys((children[0] as Child).url);
    const out: CaseResult = {
      name,
      placement: placement(n),
      loadgen_cpu_us: Math.round((load.user + load.system) / (accepted / 10)) / 10,
      aggregators: n,
      records_per_s: Math.round(rps),
      aggregator_cpu_us: Math.round((1e6 * agg * 10) / accepted) / 10,
      tracked_keys: keys,
    };
    if (ports.length > 0) {
      out.redis_cpu_us = Math.round((1e6 * cpu * 100) / accepted) / 100;
      // everything the state holds (keys of every kind, batch ids) over the entities it tracks
      out.redis_bytes_per_key = Math.round((usedMemory(ports) - memEmpty) / Math.max(1, keys));
    }
    return out;
  } finally {
    await Promise.all(children.map(stop));
    await redis?.close();
    await cluster?.close();
    pinSelf(cores().client);
  }
}

/** Peak RSS (MB, VmHWM) of a fresh aggregator after one maximal batch: `records` records of distinct IPs. */
export async function peakRssOneBatch(outDir: string, backend: 'memory' | 'redis', records: number): Promise<number> {
  const redis = backend === 'redis' ? await startRedis() : undefined;
  const child = await startAggregator(outDir, cores().server, redis ? { SIEM_STATE: redis.url } : {});
  try {
    const t0 = 1_717_800_000_000;
    const recs = Array.from({ length: records }, (_, i) => ({
      ts: t0 + i,
      ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
      status: i % 7 === 0 ? 401 : 200,
      service: 'orders',
      credential: i % 5 === 0 ? `c${i % 997}` : undefined,
    }));
    const res = await fetch(`${child.url}/v1/records`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ records: recs }),
    });
    if (res.status !== 202) throw new Error(`one maximal batch answered ${res.status}: ${await res.text()}`);
    const status = readFileSync(`/proc/${child.proc.pid}/status`, 'utf8');
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return Math.round(kb / 1024);
  } finally {
    await stop(child);
    await redis?.close();
  }
}
