// Case 1: ingest end to end. The real aggregator and a minimal fastify route
// (the transport ceiling) each run as a child process on the servers' core,
// fed the same prebuilt bodies over keep-alive connections (post-load.ts)
// from this process on the other core, in short alternating blocks. Rates
// are counted by the servers; CPU time is read from /proc.
import { profileArgs, ratioOf, type CaseOptions, type Row } from '../result';
import { startChild, recordsSeen, type Child } from '../servers';
import { cores } from '../pin';
import { ipKey } from '../../common/ip-key';
import { INGEST_MIX, Traffic, distinctIps, distinctKeys } from '../traffic';
import { say } from '../progress';
import { postAll, postFor, procCpuSeconds } from '../post-load';

const CASE = '1 ingest';
export const TARGET_SHARE = 0.6;

interface Block {
  /** records/s the server took in (counted by the server) */
  rate: number;
  /** records per CPU-second of the server process (user + system) */
  perCpu: number;
  bad: number;
  next: number;
}

/** One load block against `server`: bodies from `from` on, for `seconds`. */
async function measure(
  kind: 'aggregator' | 'baseline',
  server: Child,
  bodies: readonly Buffer[],
  from: number,
  seconds: number,
): Promise<Block> {
  const pid = server.proc.pid as number;
  // the counter is read outside the CPU span: the aggregator's /metrics answer is not ingest
  const before = await recordsSeen(kind, server.url);
  const cpu0 = procCpuSeconds(pid);
  const t0 = process.hrtime.bigint();
  const res = await postFor(server.url, bodies, seconds, from);
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = procCpuSeconds(pid) - cpu0;
  const n = (await recordsSeen(kind, server.url)) - before;
  return { rate: n / elapsed, perCpu: cpu > 0 ? n / cpu : Number.NaN, bad: res.bad, next: res.next };
}

/** The median of `xs` (not empty). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

interface Compared {
  /** medians of the blocks' rates */
  real: number;
  ceiling: number;
  /** median of the pairs' ratios of rates, and their spread */
  ratio: number;
  low: number;
  high: number;
  /** medians of records per server CPU-second, and of the pairs' ratios of them */
  realCpu: number;
  ceilingCpu: number;
  cpuRatio: number;
  cpuLow: number;
  cpuHigh: number;
  /** the keyed floor (baseline-server.ts), when run: its rate, its ratio to the ceiling and the aggregator's to it */
  floor?: { rate: number; ratio: number; low: number; high: number; realRatio: number };
  bad: number;
}

type Kind = 'aggregator' | 'baseline' | 'floor';

/**
 * Both servers up at once (the idle one costs nothing), then `pairs` pairs
 * of short load blocks, ceiling then aggregator, the order swapped every
 * other pair. Each pair gives one ratio from two blocks a few seconds
 * apart, so load from elsewhere on the machine hits both sides of a ratio
 * alike; the median of those ratios is the figure, their spread says how
 * steady the run was. Beside the rates, records per CPU-second of each
 * server: what a record costs whatever share of its core the server got.
 * With `floor`, the keyed floor runs too, a third block in each pair.
 */
async function compare(o: CaseOptions, bodies: readonly Buffer[], blockS: number, pairs: number, floor: boolean): Promise<Compared> {
  const core = cores().server;
  const servers = new Map<Kind, Child>();
  try {
    servers.set('baseline', await startChild('baseline', o.outDir, core));
    if (floor) servers.set('floor', await startChild('baseline', o.outDir, core, { SIEM_BENCH_KEYED: '1' }));
    servers.set('aggregator', await startChild('aggregator', o.outDir, core, {}, profileArgs(o.profileDir, 'ingest-aggregator')));
    // warm-up: JIT, and every key of the bodies held (measured blocks then see keys already held, as a steady aggregator does)
    await postFor(servers.get('baseline')?.url as string, bodies, 1);
    for (const k of ['floor', 'aggregator'] as const) {
      const s = servers.get(k);
      if (s) await postAll(s.url, bodies);
    }
    const kinds = [...servers.keys()];
    const blocks: Map<Kind, Block>[] = [];
    const at = new Map<Kind, number>();
    for (let i = 0; i < pairs; i++) {
      const got = new Map<Kind, Block>();
      for (const kind of i % 2 === 0 ? kinds : [...kinds].reverse()) {
        const b = await measure(
          kind === 'aggregator' ? 'aggregator' : 'baseline',
          servers.get(kind) as Child,
          bodies,
          at.get(kind) ?? 0,
          blockS,
        );
        at.set(kind, b.next);
        got.set(kind, b);
      }
      blocks.push(got);
    }
    const of = (k: Kind) => blocks.map((m) => m.get(k) as Block);
    const [a, b] = [of('aggregator'), of('baseline')];
    const ratios = a.map((x, i) => ratioOf(x.rate, (b[i] as Block).rate));
    const cpuRatios = a.map((x, i) => ratioOf(x.perCpu, (b[i] as Block).perCpu));
    let floorFigures: Compared['floor'];
    if (floor) {
      const f = of('floor');
      const fr = f.map((x, i) => ratioOf(x.rate, (b[i] as Block).rate));
      floorFigures = {
        rate: median(f.map((x) => x.rate)),
        ratio: median(fr),
        low: Math.min(...fr),
        high: Math.max(...fr),
        realRatio: median(a.map((x, i) => ratioOf(x.rate, (f[i] as Block).rate))),
      };
    }
    return {
      real: median(a.map((x) => x.rate)),
      ceiling: median(b.map((x) => x.rate)),
      ratio: median(ratios),
      low: Math.min(...ratios),
      high: Math.max(...ratios),
      realCpu: median(a.map((x) => x.perCpu)),
      ceilingCpu: median(b.map((x) => x.perCpu)),
      cpuRatio: median(cpuRatios),
      cpuLow: Math.min(...cpuRatios),
      cpuHigh: Math.max(...cpuRatios),
      ...(floorFigures ? { floor: floorFigures } : {}),
      bad: blocks.reduce((n, m) => n + [...m.values()].reduce((s, x) => s + x.bad, 0), 0),
    };
  } finally {
    for (const s of servers.values()) await s.stop();
  }
}

export async function run(o: CaseOptions): Promise<Row[]> {
  const rows: Row[] = [];
  // short blocks, many pairs: under a shared machine's load a ratio of 8 s runs moved 2x between runs
  const blockS = 2;
  const pairs = o.quick ? 3 : 10;
  // The mix the target is set for first; then the plain mixes of batch 200 and 1000.
  const mixes = [
    {
      name: `records/s, batch ${INGEST_MIX.batch}, 80% with a credential`,
      batch: INGEST_MIX.batch,
      total: INGEST_MIX.records,
      traffic: INGEST_MIX.traffic,
      keys: true,
    },
    ...(o.mixOnly
      ? []
      : (o.quick ? [1000] : [200, 1000]).map((batch) => ({
          name: `records/s, batch ${batch}`,
          batch,
          total: o.quick ? 100_000 : 400_000,
          traffic: { seed: 1, ipPool: 1_000_000 },
          keys: false,
        }))),
  ];
  for (const mix of mixes) {
    say(`${CASE}: building ${mix.total} records in bodies of ${mix.batch}`);
    // same seed: both plain batch sizes carry the same records
    const bodies = new Traffic(mix.traffic).bodies(mix.total, mix.batch);
    const held = mix.keys ? `${distinctKeys(bodies, (ip) => ipKey(ip))} distinct keys` : `${distinctIps(bodies)} distinct IPs`;
    const c = await compare(
      o,
      bodies.map((b) => Buffer.from(b)),
      blockS,
      pairs,
      mix.keys,
    );
    const how = `${held}, ${bodies.length} bodies, each posted once before (every key held), 8 keep-alive connections; ${pairs} pairs of ${blockS} s blocks (ceiling, keyed floor when run, and aggregator; the order reversed every other pair), each figure the median over blocks, each ratio the median of the pairs' ratios`;
    rows.push(
      {
        case: CASE,
        name: mix.name,
        value: c.real,
        unit: 'rec/s',
        baseline: { name: 'fastify parse-only route', value: c.ceiling },
        ratio: c.ratio,
        target: `>= ${TARGET_SHARE} x ceiling`,
        met: c.ratio >= TARGET_SHARE && c.bad === 0,
        note: `${how}; pair ratios ${c.low.toFixed(2)}-${c.high.toFixed(2)}x${c.bad ? `; ${c.bad} non-2xx/errors` : ''}`,
      },
      {
        case: CASE,
        name: `${mix.name}, per server CPU-second`,
        value: c.realCpu,
        unit: 'rec/s',
        baseline: { name: 'fastify parse-only route', value: c.ceilingCpu },
        ratio: c.cpuRatio,
        note: `records per CPU-second (user + system) of each server process in the same blocks: the ratio of per-record costs, whatever share of its core each server got from the machine; pair ratios ${c.cpuLow.toFixed(2)}-${c.cpuHigh.toFixed(2)}x`,
      },
    );
    if (c.floor)
      rows.push({
        case: CASE,
        name: `${mix.name}, keyed floor`,
        value: c.floor.rate,
        unit: 'rec/s',
        baseline: { name: 'fastify parse-only route', value: c.ceiling },
        ratio: c.floor.ratio,
        note: `the parse-only route that also finds each record's IP and credential and counts into them (an IPv4 address as a number in an open-addressing table; IPv6 and credentials in Maps), no window, rule, recency or bound: the least a state keyed per IP and per credential does per record; a third block in each pair; pair ratios ${c.floor.low.toFixed(2)}-${c.floor.high.toFixed(2)}x; the aggregator is ${c.floor.realRatio.toFixed(2)}x of it (median of the pairs)`,
      });
  }
  return rows;
}
