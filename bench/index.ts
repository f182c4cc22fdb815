// `npm run bench`: every case of the performance issue, each figure beside a
// baseline measured in the same run. Prints a table on stdout, progress on
// stderr, and writes bench/results/latest.json (the run before it is kept as
// previous.json and shown in the last column).
//   --quick          a small, fast subset (not run by npm test)
//   --only 1,2,5     just these cases
//   --profile        CPU profiles (node --cpu-prof) of case processes and of the
//                    case 1 aggregator, in bench/results/profiles/
//   --mix-only       cases 1 and 2 run only the ingest mix of the speed target
//                    (batch 200, 80% credentials, 200k+ keys): e.g.
//                    npm run bench -- --only 1,2 --mix-only
import fs from 'node:fs';
import path from 'node:path';
import { coreCount, cores, hasTaskset, pinSelf, spawnNode } from './pin';
import { profileArgs, ratioOf, type CaseOptions, type Row } from './result';
import { say } from './progress';
import { run as runIngest } from './cases/ingest';
import { INGEST_MIX } from './traffic';

const CORE_VS_E2E = 2;

interface CaseDef {
  n: number;
  name: string;
  /** module under bench/cases/ */
  module: string;
  /** in this process (case 1 is the load generator itself) or in a pinned child */
  inProcess?: boolean;
}

const CASES: readonly CaseDef[] = [
  { n: 1, name: 'ingest', module: 'ingest', inProcess: true },
  { n: 2, name: 'core', module: 'core' },
  { n: 3, name: 'growth', module: 'growth' },
  { n: 4, name: 'memory', module: 'memory' },
  { n: 5, name: 'scrape', module: 'scrape' },
  { n: 6, name: 'plugin', module: 'plugin' },
  { n: 7, name: 'replay', module: 'replay' },
  { n: 8, name: 'spray', module: 'spray', inProcess: true },
  { n: 9, name: 'decisions', module: 'decisions' },
  { n: 10, name: 'redis', module: 'redis', inProcess: true },
  { n: 11, name: 'snapshot', module: 'snapshot' },
  { n: 12, name: 'bytes per key', module: 'key-bytes', inProcess: true },
  { n: 13, name: 'settings cost', module: 'settings-cost' },
];

interface Results {
  started: string;
  durationMs: number;
  quick: boolean;
  machine: { cpus: number; node: string; pinned: boolean };
  rows: Row[];
}

function runChild(c: CaseDef, o: CaseOptions): Promise<Row[]> {
  return new Promise((resolve) => {
    const script = path.join(o.outDir, 'bench', 'child.js');
    const p = spawnNode(
      cores().server,
      ['--expose-gc', '--max-old-space-size=8192', ...profileArgs(o.profileDir, c.module), script, c.module, JSON.stringify(o)],
      {
        cwd: o.root,
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    );
    let rows: Row[] | undefined;
    p.on('message', (m) => (rows = m as Row[]));
    p.on('exit', (code, signal) => {
      resolve(
        rows ?? [
          { case: `${c.n} ${c.name}`, name: 'all', unavailable: `case process ended with ${signal ?? `code ${code}`} and no result` },
        ],
      );
    });
  });
}

function fmt(v: number | undefined, unit?: string): string {
  if (v === undefined || Number.isNaN(v)) return '';
  if (unit === 'rec/s' || unit === 'records/s' || unit === 'lines/s' || (unit === undefined && v >= 10_000)) {
    return v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : v >= 1e3 ? `${(v / 1e3).toFixed(1)}k` : v.toFixed(0);
  }
  if (unit === 'ms') return v.toFixed(2);
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(1);
}

function table(rows: readonly Row[], previous: readonly Row[] | undefined): string {
  const head = ['case', 'figure', 'value', 'baseline (same run)', 'ratio', 'target', 'met', 'previous run'];
  const prevOf = (r: Row) => previous?.find((p) => p.case === r.case && p.name === r.name);
  const body = rows.map((r) => {
    if (r.unavailable) return [r.case, r.name, 'not available', r.unavailable, '', '', '', ''];
    const p = prevOf(r);
    return [
      r.case,
      r.name,
      `${fmt(r.value, r.unit)} ${r.unit ?? ''}`.trim(),
      r.baseline ? `${fmt(r.baseline.value, r.unit)} ${r.baseline.name}` : '',
      r.ratio === undefined || Number.isNaN(r.ratio) ? '' : `${r.ratio.toFixed(2)}x`,
      r.target ?? '',
      r.met === undefined ? '' : r.met ? 'yes' : 'NO',
      p?.value !== undefined ? `${fmt(p.value, p.unit)}${p.ratio !== undefined ? ` (${p.ratio.toFixed(2)}x)` : ''}` : '',
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] as number))
      .join(' | ')
      .trimEnd();
  const notes = rows.filter((r) => r.note && !r.unavailable).map((r) => `  ${r.case} / ${r.name}: ${r.note}`);
  return [line(head), widths.map((w) => '-'.repeat(w)).join('-|-'), ...body.map(line), '', 'notes:', ...notes].join('\n');
}

function parseArgs(argv: string[]): { quick: boolean; profile: boolean; mixOnly: boolean; only?: Set<number> } {
  const quick = argv.includes('--quick');
  const profile = argv.includes('--profile');
  const mixOnly = argv.includes('--mix-only');
  const i = argv.indexOf('--only');
  const only = i >= 0 && argv[i + 1] ? new Set(argv[i + 1]!.split(',').map(Number)) : undefined;
  return { quick, profile, mixOnly, only };
}

/** The nearest folder above the compiled output holding package.json (dist/ or .tmp/<name>/). */
function repoRoot(from: string): string {
  for (let dir = path.resolve(from, '..'); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const outDir = path.resolve(__dirname, '..');
  const root = repoRoot(outDir);
  const o: CaseOptions = { quick: args.quick, root, outDir, mixOnly: args.mixOnly };
  if (args.profile) {
    o.profileDir = path.join(root, 'bench', 'results', 'profiles');
    fs.mkdirSync(o.profileDir, { recursive: true });
  }
  const started = Date.now();
  const pinned = pinSelf(cores().client);
  say(
    `${coreCount()} cores; ${pinned ? `load generator on core ${cores().client}, servers and cases on core ${cores().server}` : hasTaskset() ? 'pinning failed: unpinned' : 'taskset not found (apt-get install -y util-linux): unpinned'}${args.quick ? '; quick subset' : ''}`,
  );

  const rows: Row[] = [];
  for (const c of CASES) {
    if (args.only && !args.only.has(c.n)) continue;
    say(`case ${c.n} ${c.name}`);
    const t0 = Date.now();
    let got: Row[];
    try {
      got = !c.inProcess
        ? await runChild(c, o)
        : c.module === 'ingest'
          ? await runIngest(o)
          : await ((await import(`./cases/${c.module}`)) as { run(o: CaseOptions): Promise<Row[]> }).run(o);
    } catch (err) {
      got = [{ case: `${c.n} ${c.name}`, name: 'all', unavailable: `failed: ${(err as Error).message}` }];
    }
    rows.push(...got);
    say(`case ${c.n} ${c.name}: ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  }

  // Core path >= 2x end to end: the HTTP layer, not the detectors, bounds
  // ingest. Each core row against the case 1 row of the same traffic.
  const pairs: [string, string, string][] = [
    [
      `records/s, batch ${INGEST_MIX.batch}, 80% with a credential`,
      `records/s, parse + validate + state, batch ${INGEST_MIX.batch}, 80% with a credential`,
      `batch ${INGEST_MIX.batch}, 80% credentials`,
    ],
    ['records/s, batch 1000', 'records/s, parse + validate + state', 'batch 1000'],
  ];
  for (const [e2eName, coreName, label] of pairs) {
    const e2e = rows.find((r) => r.case === '1 ingest' && r.name === e2eName && r.value !== undefined);
    const core = rows.find((r) => r.case === '2 core' && r.name === coreName && r.value !== undefined);
    if (e2e?.value === undefined || core?.value === undefined) continue;
    const ratio = ratioOf(core.value, e2e.value);
    rows.splice(rows.indexOf(core) + 1, 0, {
      case: '2 core',
      name: `core vs end to end (${label})`,
      value: core.value,
      unit: 'rec/s',
      baseline: { name: `case 1 aggregator, ${label}`, value: e2e.value },
      ratio,
      target: `>= ${CORE_VS_E2E}x`,
      met: ratio >= CORE_VS_E2E,
    });
  }

  const dir = path.join(root, 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const latest = path.join(dir, 'latest.json');
  const prevFile = path.join(dir, 'previous.json');
  let previous: Results | undefined;
  if (fs.existsSync(latest)) {
    fs.renameSync(latest, prevFile);
  }
  if (fs.existsSync(prevFile)) {
    try {
      previous = JSON.parse(fs.readFileSync(prevFile, 'utf8')) as Results;
    } catch {
      previous = undefined;
    }
  }
  const results: Results = {
    started: new Date(started).toISOString(),
    durationMs: Date.now() - started,
    quick: args.quick,
    machine: { cpus: coreCount(), node: process.version, pinned },
    rows,
  };
  fs.writeFileSync(latest, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`${table(rows, previous?.rows)}\n\n`);
  if (o.profileDir) process.stdout.write(`CPU profiles in ${path.relative(root, o.profileDir)}/ (open in Chrome DevTools or speedscope)\n`);
  process.stdout.write(
    `${rows.length} figures in ${(results.durationMs / 1000).toFixed(1)}s; written to bench/results/latest.json${previous ? ` (previous run: ${previous.started}${previous.quick ? ', quick' : ''})` : ''}\n`,
  );
}

main().catch((err) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
