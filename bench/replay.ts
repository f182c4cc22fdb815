// Replay speed: records/s of `kong-siem replay` on a generated Kong file-log
// (~500k lines of Kong 3.x log objects; --quick: 50k), plain and gzip, in
// process and through the CLI (with its peak RSS), beside a same-run floor:
// reading the same file and JSON.parse of every line, nothing else (each CLI
// run between two floor runs, against the faster of them). Then
// CrowdSec's one-shot file mode on the same traffic written as an nginx
// access log, when the Debian package is installed (bench/replay-crowdsec.ts). Case 7
// of `npm run bench` calls run(); standalone: `node <outDir>/bench/replay.js
// [--quick] [--json] [--lines N]`.
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { DEFAULT_RECORD_OPTIONS } from '../common/kong-log';
import { DEFAULT_SETTINGS } from '../common/settings';
import { fileLogLines, scenario } from '../cli/kong-traffic';
import { replay } from '../cli/replay';
import { machineCores } from './pin';
import { crowdsec } from './replay-crowdsec';
import { profileArgs, type Row } from './result';
import { timed } from './timed';

const CASE = '7 replay';
/** The target for the CLI end to end: records/s against the same run's read + JSON.parse floor, and peak RSS. */
export const TARGET_FLOOR_RATIO = 1.3;
export const TARGET_RSS_MB = 120;

interface Options {
  quick?: boolean;
  lines?: number;
  /** compiled output root, for the CLI run */
  outDir?: string;
  /** with --profile: the CLI run writes its CPU profile here */
  profileDir?: string;
}

/** The floor: read, split into lines and JSON.parse each, the cheapest way. */
async function floor(file: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  let n = 0;
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    const buf: Buffer = rest.length ? Buffer.concat([rest, chunk as Buffer]) : (chunk as Buffer);
    let from = 0;
    for (let nl = buf.indexOf(10); nl >= 0; nl = buf.indexOf(10, from)) {
      if (nl > from && JSON.parse(buf.toString('utf8', from, nl))) n++;
      from = nl + 1;
    }
    rest = buf.subarray(from);
  }
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

/** Best of `k` runs: the machine's noise only ever slows a run down. */
async function best(k: number, f: () => Promise<number>): Promise<number> {
  let b = 0;
  for (let i = 0; i < k; i++) b = Math.max(b, await f());
  return b;
}

async function inProcess(file: string): Promise<{ rate: number; findings: number }> {
  const r = await replay({
    files: [file],
    settings: DEFAULT_SETTINGS,
    record: DEFAULT_RECORD_OPTIONS,
    ipv6Prefix: 64,
    maxKeys: 1_000_000,
    maxServices: 100,
    maxFindings: 1000,
    credentialMaxIps: 100,
  });
  return { rate: r.records / (Math.max(r.elapsed_ms, 1) / 1000), findings: r.findings.length };
}

async function viaCli(
  cli: string,
  file: string,
  dir: string,
  profileDir?: string,
  workers = 1,
  /** taskset's list of cores to run it on (else it inherits this process's) */
  onCores?: string,
): Promise<{ rate: number; rssMb: number | undefined }> {
  const args = [
    ...profileArgs(profileDir, `replay-cli-w${workers}`),
    cli,
    'replay',
    '--json',
    '--quiet',
    '--workers',
    String(workers),
    file,
  ];
  // taskset execs node in its own process: the time and peak RSS are node's
  const r =
    onCores === undefined
      ? await timed(process.execPath, args, { dir })
      : await timed('taskset', ['-c', onCores, process.execPath, ...args], { dir });
  return { rate: (JSON.parse(r.stdout) as { records: number }).records / (r.ms / 1000), rssMb: r.rssMb };
}

export async function run(o: Options = {}): Promise<Row[]> {
  const lines = o.lines ?? (o.quick ? 50_000 : 500_000);
  const outDir = o.outDir ?? path.resolve(__dirname, '..');
  const dir = mkdtempSync(path.join(tmpdir(), 'kong-siem-bench-replay-'));
  try {
    const file = path.join(dir, 'access.log');
    const gz = `${file}.gz`;
    // About 170 records/s of benign traffic over the span, plus the attacks.
    const spanMs = Math.max(600_000, Math.round((lines / 170) * 1000));
    const reqs = scenario({ endMs: Date.parse('2024-06-07T22:00:00Z'), benign: lines - 532, spanMs, seed: 42 });
    await pipeline(Readable.from(fileLogLines(reqs)), createWriteStream(file));
    await pipeline(createReadStream(file), createGzip(), createWriteStream(gz));
    const mb = statSync(file).size / 1048576;
    process.stderr.write(`bench replay: ${reqs.length} lines, ${mb.toFixed(0)} MB (gzip ${(statSync(gz).size / 1048576).toFixed(0)} MB)\n`);

    const base = await best(2, () => floor(file));
    let findings = 0;
    const plain = await best(2, async () => {
      const r = await inProcess(file);
      findings = r.findings;
      return r.rate;
    });
    const zipped = (await inProcess(gz)).rate;
    // Each CLI run between two floor runs, its ratio against the faster of
    // them: on a shared machine the load moves between runs (one floor at a
    // load peak made a whole case look met; so did the mean, with the run
    // after the CLI at half the one before on an idle machine).
    const bracketed = async (workers: number, onCores?: string) => {
      const before = await floor(file);
      const r = await viaCli(path.join(outDir, 'cli', 'index.js'), file, dir, o.profileDir, workers, onCores);
      const after = await floor(file);
      return { ...r, floor: Math.max(before, after), floors: `floor before/after it ${Math.round(before)}/${Math.round(after)} records/s` };
    };
    const cli = await bracketed(1);
    // Threads parsing (--workers: the main one and parser threads), one per
    // core of the machine (at most 4), beside the one-thread default, same
    // run. This case runs pinned to one core (bench/index.ts), and so would
    // the CLI it starts: its threads would share that core. So this run is
    // widened to every core; the floor stays one thread, as it is defined.
    const machine = machineCores();
    const threads = machine === undefined ? 2 : Math.min(4, machine.count);
    const withThreads = await bracketed(threads, machine?.list);
    const threadsOn =
      machine === undefined
        ? 'on the cores this case runs on (taskset cannot widen them)'
        : `run on every core (taskset -c ${machine.list})`;
    const baselineName = 'read + JSON.parse of every line only';
    const row = (name: string, value: number, note?: string, floorRate = base): Row => ({
      case: CASE,
      name,
      value: Math.round(value),
      unit: 'records/s',
      baseline: {
        name: floorRate === base ? baselineName : `${baselineName}, the faster of the runs before and after`,
        value: Math.round(floorRate),
      },
      ratio: value / floorRate,
      note,
    });
    const rssOf = (r: { rssMb: number | undefined }) => (r.rssMb === undefined ? 'not measured' : `${r.rssMb.toFixed(0)} MB`);
    const target = `>= ${TARGET_FLOOR_RATIO}x the floor in <= ${TARGET_RSS_MB} MB RSS`;
    const cliRow = row(
      'CLI end to end (node start, report), --workers 1 (default)',
      cli.rate,
      `peak RSS ${rssOf(cli)}; ${cli.floors}`,
      cli.floor,
    );
    cliRow.target = target;
    cliRow.met = cli.rate >= TARGET_FLOOR_RATIO * cli.floor && cli.rssMb !== undefined && cli.rssMb <= TARGET_RSS_MB;
    const threadsRow = row(
      `CLI end to end, --workers ${threads} (the main thread and ${threads - 1} parser thread${threads > 2 ? 's' : ''})`,
      withThreads.rate,
      `${threadsOn}; peak RSS ${rssOf(withThreads)}; ${withThreads.floors}`,
      withThreads.floor,
    );
    threadsRow.target = target;
    threadsRow.met =
      withThreads.rate >= TARGET_FLOOR_RATIO * withThreads.floor && withThreads.rssMb !== undefined && withThreads.rssMb <= TARGET_RSS_MB;
    const rows = [
      row(`in process, plain file (${reqs.length} lines, ${mb.toFixed(0)} MB), best of 2`, plain, `${findings} findings at the end`),
      row('in process, gzip file', zipped),
      cliRow,
      threadsRow,
    ];
    if (cli.rssMb !== undefined) {
      rows.push({
        case: CASE,
        name: 'CLI end to end, peak RSS',
        value: Math.round(cli.rssMb),
        unit: 'MB',
        target: `<= ${TARGET_RSS_MB} MB`,
        met: cli.rssMb <= TARGET_RSS_MB,
      });
    }
    rows.push(...(await crowdsec(CASE, reqs, o, dir, { name: 'kong-siem replay CLI end to end, records/s', value: Math.round(cli.rate) })));
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--lines');
  const lines = i >= 0 ? Number(argv[i + 1]) : undefined;
  run({ quick: argv.includes('--quick'), lines }).then(
    (rows) => {
      if (argv.includes('--json')) process.stdout.write(`${JSON.stringify(rows)}\n`);
      else {
        for (const r of rows) {
          if (r.unavailable) process.stdout.write(`${r.name}: not available (${r.unavailable})\n`);
          else
            process.stdout.write(
              `${r.name}: ${r.value} ${r.unit}${r.baseline ? ` (${(r.ratio ?? 0).toFixed(3)}x of ${r.baseline.name}: ${r.baseline.value})` : ''}${r.note ? `; ${r.note}` : ''}${r.target ? `; target ${r.target}: ${r.met ? 'met' : 'missed'}` : ''}\n`,
            );
        }
      }
    },
    (err) => {
      process.stderr.write(`bench replay: ${(err as Error).stack ?? err}\n`);
      process.exit(1);
    },
  );
}
