// Benchmark: ingest records/s of the in-memory aggregator, one aggregator on
// Redis and two aggregators sharing one Redis, in the same run, over HTTP
// with the same pre-serialized batches. Each aggregator is a child process
// (`node <outDir>/aggregator/server.js`); Redis is a fresh redis-server per
// case. Prints one row per case and the ratios against in-memory.
//
//   node dist/bench/redis.js [--records 200000] [--batch 1000] [--concurrency 4] [--json]
//
// Every process shares the machine's cores (client, aggregators, Redis): on a
// small machine the two-aggregator case measures contention as much as
// scale-out. The core count is printed with the figures.
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { freePort, startRedis, waitFor, type RunningRedis } from '../test/helpers/redis';

interface Args { records: number; batch: number; concurrency: number; json: boolean }

function parseArgs(argv: readonly string[]): Args {
  const a: Args = { records: 200_000, batch: 1000, concurrency: 4, json: false };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = Number(argv[i + 1]);
    if (k === '--json') a.json = true;
    else if (k === '--records' && v > 0) (a.records = v), i++;
    else if (k === '--batch' && v > 0) (a.batch = v), i++;
    else if (k === '--concurrency' && v > 0) (a.concurrency = v), i++;
    else throw new Error(`unknown or bad argument ${k}`);
  }
  return a;
}

/** Deterministic traffic: 20k IPs (a few heavy), 5% failures, a credential on 10%, 4 services, ts rising. */
function batches(a: Args): string[] {
  let seed = 7;
  const rnd = () => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const t0 = 1_717_800_000_000;
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

interface Child { url: string; proc: ChildProcess }

async function startAggregator(env: Record<string, string>): Promise<Child> {
  const port = await freePort();
  const server = path.resolve(__dirname, '../aggregator/server.js');
  const proc = spawn(process.execPath, [server], {
    env: { ...process.env, SIEM_HOST: '127.0.0.1', SIEM_PORT: String(port), SIEM_LOG_LEVEL: 'warn', SIEM_CLOCK: 'event', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`aggregator on ${url}`, async () => {
    if (proc.exitCode !== null) throw new Error(`aggregator exited with ${proc.exitCode}`);
    return fetch(`${url}/healthz`).then((r) => r.ok, () => false);
  }, 20_000);
  return { url, proc };
}

async function stop(c: Child): Promise<void> {
  if (c.proc.exitCode !== null) return;
  const exited = new Promise((r) => c.proc.once('exit', r));
  c.proc.kill('SIGTERM');
  await exited;
}

/** Post every batch, `concurrency` in flight, round-robin over the aggregators; returns records/s. */
async function drive(children: Child[], bodies: readonly string[], a: Args): Promise<{ rps: number; accepted: number }> {
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
  await Promise.all(Array.from({ length: a.concurrency }, worker));
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return { rps: accepted / s, accepted };
}

async function runCase(name: string, n: number, redis: boolean, bodies: readonly string[], a: Args) {
  let r: RunningRedis | undefined;
  const children: Child[] = [];
  try {
    if (redis) r = await startRedis();
    for (let i = 0; i < n; i++) children.push(await startAggregator(r ? { SIEM_STATE: r.url } : {}));
    // warm-up: the first 5% of batches, not timed (JIT, script cache, connections)
    const warm = Math.max(1, Math.floor(bodies.length / 20));
    await drive(children, bodies.slice(0, warm), a);
    const { rps, accepted } = await drive(children, bodies.slice(warm), a);
    // every aggregator must see the same state: one window count, asked of each
    const seen = await Promise.all(children.map((c) => fetch(`${c.url}/v1/top?service=svc-0`).then((x) => x.json() as Promise<{ other: number; items: { count: number }[] }>)));
    const totals = seen.map((t) => t.other + t.items.reduce((s, x) => s + x.count, 0));
    if (new Set(totals).size !== 1) throw new Error(`${name}: aggregators disagree on svc-0's window: ${totals.join(' vs ')}`);
    return { name, aggregators: n, records_per_s: Math.round(rps), records: accepted };
  } finally {
    await Promise.all(children.map(stop));
    await r?.close();
  }
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const bodies = batches(a);
  const rows = [
    await runCase('memory', 1, false, bodies, a),
    await runCase('redis x1', 1, true, bodies, a),
    await runCase('redis x2', 2, true, bodies, a),
  ];
  const base = rows[0]?.records_per_s ?? 1;
  const out = rows.map((r) => ({ ...r, ratio_vs_memory: Math.round((100 * r.records_per_s) / base) / 100 }));
  if (a.json) {
    process.stdout.write(`${JSON.stringify({ cores: os.cpus().length, batch: a.batch, concurrency: a.concurrency, rows: out })}\n`);
    return;
  }
  process.stdout.write(`redis state benchmark: ${a.records} records, batches of ${a.batch}, ${a.concurrency} in flight, ${os.cpus().length} cores shared by client, aggregators and redis-server\n`);
  for (const r of out) process.stdout.write(`${r.name.padEnd(10)} ${String(r.records_per_s).padStart(9)} records/s  x${r.ratio_vs_memory.toFixed(2)} of memory\n`);
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`bench/redis: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}
