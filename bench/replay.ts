// Replay speed: records/s of `kong-siem replay` on a generated Kong file-log
// (~500k lines of Kong 3.x log objects; --quick: 50k), plain and gzip, in
// process and through the CLI (with its peak RSS), beside a same-run floor:
// reading the same file and JSON.parse of every line, nothing else (each CLI
// run between two floor runs, against their mean). Then
// CrowdSec's one-shot file mode on the same traffic written as an nginx
// access log, when the Debian package is installed (see crowdsec()). Case 7
// of `npm run bench` calls run(); standalone: `node <outDir>/bench/replay.js
// [--quick] [--json] [--lines N]`.
import { spawn, spawnSync } from 'node:child_process';
import {
  cpSync,
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import YAML from 'yaml';
import { DEFAULT_RECORD_OPTIONS } from '../common/kong-log';
import { DEFAULT_SETTINGS } from '../common/settings';
import { fileLogLines, scenario, type Request } from '../cli/kong-traffic';
import { replay, threadsPerCore } from '../cli/replay';
import { profileArgs, type Row } from './result';
import { freePort } from '../test/helpers/loopback';

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

interface Timed {
  /** wall time, ms */
  ms: number;
  /** peak RSS of the process, MB (undefined when it could not be read) */
  rssMb: number | undefined;
  stdout: string;
}

const GNU_TIME = '/usr/bin/time';

/**
 * Run a command to its end: wall time and peak RSS. The peak is GNU time's
 * (`-f %M`, exact) when installed, else the last VmHWM read from
 * /proc/<pid>/status while it runs (VmHWM only grows, so this misses at most
 * the last 50 ms).
 */
function timed(cmd: string, args: readonly string[], o: { dir: string; quietStderr?: boolean; timeoutMs?: number }): Promise<Timed> {
  const withTime = existsSync(GNU_TIME);
  const rssFile = path.join(o.dir, `rss-${process.hrtime.bigint()}.txt`);
  const [file, argv] = withTime ? [GNU_TIME, ['-f', '%M', '-o', rssFile, cmd, ...args]] : [cmd, [...args]];
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const p = spawn(file, argv, { stdio: ['ignore', 'pipe', o.quietStderr ? 'pipe' : 'inherit'] });
    let out = '';
    let err = '';
    let hwmKb: number | undefined;
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'));
        if (m) hwmKb = Number(m[1]);
      } catch {
        // gone already
      }
    }, 50);
    // a run that hangs is ended (this process started it: by its pid)
    const deadline = setTimeout(() => p.kill('SIGKILL'), o.timeoutMs ?? 15 * 60_000);
    p.stdout?.on('data', (d: Buffer) => (out += d.toString('utf8')));
    p.stderr?.on('data', (d: Buffer) => (err = (err + d.toString('utf8')).slice(-4000)));
    p.on('error', (e) => {
      clearInterval(poll);
      clearTimeout(deadline);
      reject(e);
    });
    p.on('close', (code) => {
      clearInterval(poll);
      clearTimeout(deadline);
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0)
        return reject(
          new Error(`${path.basename(cmd)} exited with ${code}${err ? `: ${err.trim().split('\n').slice(-3).join(' | ')}` : ''}`),
        );
      let kb = withTime ? Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()) : hwmKb;
      if (kb !== undefined && !Number.isFinite(kb)) kb = undefined;
      resolve({ ms, rssMb: kb === undefined ? undefined : kb / 1024, stdout: out });
    });
  });
}

async function viaCli(
  cli: string,
  file: string,
  dir: string,
  profileDir?: string,
  workers = 1,
): Promise<{ rate: number; rssMb: number | undefined }> {
  const r = await timed(
    process.execPath,
    [...profileArgs(profileDir, `replay-cli-w${workers}`), cli, 'replay', '--json', '--quiet', '--workers', String(workers), file],
    { dir },
  );
  return { rate: (JSON.parse(r.stdout) as { records: number }).records / (r.ms / 1000), rssMb: r.rssMb };
}

// --- CrowdSec, one-shot file mode ------------------------------------------

/** Where the Debian package keeps its configuration (CROWDSEC_CONFIG_DIR overrides). */
const CROWDSEC_ETC = process.env.CROWDSEC_CONFIG_DIR ?? '/etc/crowdsec';
const CROWDSEC_INSTALL =
  'apt-get install -y crowdsec (offline, its configure step fails registering with the central API: put a comment line in /etc/crowdsec/online_api_credentials.yaml, then dpkg --configure crowdsec; see its README.Debian)';
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** One request as nginx's `combined` access log line (what CrowdSec's nginx parser reads). */
export function nginxLine(r: Request): string {
  const d = new Date(r.ts);
  const p = (n: number) => String(n).padStart(2, '0');
  const time = `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
  const user = r.consumer ?? '-';
  return `${r.ip} - ${user} [${time}] "${r.method ?? 'GET'} ${r.path ?? `/${r.service}/items`} HTTP/1.1" ${r.status} 934 "-" "curl/8.5.0"\n`;
}

/**
 * A private CrowdSec configuration under `dir`: the package's parsers and
 * scenarios (its hub symlinks, read only), a copy of its data files, its own
 * SQLite database and local API on a free loopback port with a machine of its
 * own, no central API, no Prometheus, logs on stdout. `scenarios: false`
 * leaves the scenarios out (parsers alone). Nothing of the system's
 * configuration or database is written, nor its credentials read.
 */
async function crowdsecConfig(dir: string, scenarios: boolean): Promise<string> {
  const etc = path.join(dir, 'etc');
  const data = path.join(dir, 'data');
  const skip = new Set(['local_api_credentials.yaml', 'online_api_credentials.yaml']);
  cpSync(CROWDSEC_ETC, etc, { recursive: true, filter: (src) => !skip.has(path.basename(src)) });
  const cfgPath = path.join(CROWDSEC_ETC, 'config.yaml');
  const cfg = YAML.parse(readFileSync(cfgPath, 'utf8')) as Record<string, Record<string, unknown>>;
  const paths = (cfg.config_paths ?? {}) as Record<string, string>;
  const sysData = paths.data_dir ?? '/var/lib/crowdsec/data/';
  mkdirSync(data);
  for (const f of readdirSync(sysData))
    if (!/\.db(-wal|-shm)?$/.test(f)) cpSync(path.join(sysData, f), path.join(data, f), { recursive: true });
  // The package's http-path-traversal-probing scenario wants this name; it ships path_traversal.txt.
  const traversal = path.join(data, 'http_path_traversal.txt');
  if (!existsSync(traversal) && existsSync(path.join(data, 'path_traversal.txt'))) cpSync(path.join(data, 'path_traversal.txt'), traversal);
  if (!scenarios) {
    rmSync(path.join(etc, 'scenarios'), { recursive: true, force: true });
    mkdirSync(path.join(etc, 'scenarios'));
  }
  const port = await freePort();
  const inEtc = (f: string) => path.join(etc, f);
  cfg.common = { ...cfg.common, daemonize: false, log_media: 'stdout', log_level: 'warning' };
  cfg.config_paths = { ...paths, config_dir: `${etc}/`, data_dir: `${data}/`, simulation_path: inEtc('simulation.yaml') };
  cfg.crowdsec_service = { ...cfg.crowdsec_service, acquisition_path: inEtc('acquis.yaml'), acquisition_dir: inEtc('acquis.d') };
  cfg.db_config = { ...cfg.db_config, db_path: path.join(data, 'crowdsec.db') };
  const api = (cfg.api ?? {}) as Record<string, Record<string, unknown>>;
  const server: Record<string, unknown> = {
    ...api.server,
    listen_uri: `127.0.0.1:${port}`,
    profiles_path: inEtc('profiles.yaml'),
    console_path: inEtc('console.yaml'),
  };
  delete server.online_client;
  cfg.api = { ...api, client: { ...api.client, credentials_path: inEtc('local_api_credentials.yaml') }, server };
  cfg.prometheus = { ...cfg.prometheus, enabled: false };
  const file = inEtc('config.yaml');
  writeFileSync(file, YAML.stringify(cfg));
  // The one-shot agent posts its alerts to the local API: a machine of this database.
  const add = spawnSync('cscli', ['-c', file, 'machines', 'add', 'kong-siem-bench', '--auto', '-f', inEtc('local_api_credentials.yaml')], {
    encoding: 'utf8',
  });
  if (add.status !== 0) throw new Error(`cscli machines add: ${(add.stderr || add.stdout).trim().split('\n').pop()}`);
  const creds = inEtc('local_api_credentials.yaml');
  writeFileSync(creds, readFileSync(creds, 'utf8').replace(/^url:.*$/m, `url: http://127.0.0.1:${port}`));
  return file;
}

async function writeNginxLog(file: string, reqs: readonly Request[]): Promise<void> {
  await pipeline(
    Readable.from(
      (function* () {
        for (const r of reqs) yield nginxLine(r);
      })(),
    ),
    createWriteStream(file),
  );
}

interface CrowdsecRun {
  /** lines / wall time */
  rate: number;
  /** lines / (wall time - the same run on one line): without its start and stop */
  marginal: number;
  startMs: number;
  rssMb: number | undefined;
  lines: number;
}

/** CrowdSec's lines/s on the first `lines` requests as nginx access log lines (one private config per run). */
async function crowdsecRun(reqs: readonly Request[], lines: number, scenarios: boolean, dir: string): Promise<CrowdsecRun> {
  const own = mkdtempSync(path.join(dir, scenarios ? 'cs-scenarios-' : 'cs-parsers-'));
  const cfg = await crowdsecConfig(own, scenarios);
  const part = reqs.slice(0, lines);
  const run = async (name: string, rs: readonly Request[]) => {
    const log = path.join(own, name);
    await writeNginxLog(log, rs);
    return timed('crowdsec', ['-c', cfg, '-dsn', `file://${log}`, '-type', 'nginx', '-no-capi'], { dir: own, quietStderr: true });
  };
  // Start-up (hub, data files, database, local API) and shutdown, on one line.
  const idle = await run('one.log', part.slice(0, 1));
  const r = await run('access.log', part);
  return {
    rate: part.length / (r.ms / 1000),
    marginal: (part.length - 1) / (Math.max(r.ms - idle.ms, 1) / 1000),
    startMs: idle.ms,
    rssMb: r.rssMb,
    lines: part.length,
  };
}

async function crowdsec(reqs: readonly Request[], o: Options, dir: string, kong: { name: string; value: number }): Promise<Row[]> {
  if (spawnSync('crowdsec', ['-version'], { stdio: 'ignore' }).status !== 0) {
    return [
      {
        case: CASE,
        name: 'CrowdSec one-shot file mode (crowdsec -dsn file://... -type nginx)',
        unavailable: `crowdsec is not installed: ${CROWDSEC_INSTALL}`,
      },
    ];
  }
  const version = (spawnSync('crowdsec', ['-version'], { encoding: 'utf8' }).stderr.match(/version: (\S+)/) ?? [])[1] ?? '?';
  const rows: Row[] = [];
  // CrowdSec manages a few hundred lines/s with its default scenarios here,
  // about 2k with its parsers alone: a prefix of the traffic, ~20 s each.
  const runs = [
    { scenarios: true, lines: o.quick ? 1_000 : 5_000, label: 'default parsers and scenarios' },
    { scenarios: false, lines: o.quick ? 5_000 : 50_000, label: 'parsers alone (no scenarios)' },
  ];
  for (const run of runs) {
    const name = `CrowdSec ${version} one-shot file mode, ${run.label}`;
    try {
      const r = await crowdsecRun(reqs, run.lines, run.scenarios, dir);
      rows.push({
        case: CASE,
        name: `${name}, first ${r.lines} lines as an nginx access log`,
        value: Math.round(r.rate),
        unit: 'lines/s',
        baseline: kong,
        ratio: r.rate / kong.value,
        note: `wall time, start included; without its ${(r.startMs / 1000).toFixed(1)} s start/stop (a 1-line run): ${Math.round(r.marginal)} lines/s; peak RSS ${r.rssMb === undefined ? '?' : r.rssMb.toFixed(0)} MB; kong-siem replay is ${(kong.value / r.rate).toFixed(0)}x this (${(kong.value / r.marginal).toFixed(0)}x without the start)`,
      });
    } catch (err) {
      rows.push({ case: CASE, name, unavailable: `crowdsec failed: ${(err as Error).message}` });
    }
  }
  return rows;
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
    // Each CLI run between two floor runs, its ratio against their mean: on a
    // shared machine the load moves between runs (one floor at a load peak
    // made a whole case look met).
    const bracketed = async (workers: number) => {
      const before = await floor(file);
      const r = await viaCli(path.join(outDir, 'cli', 'index.js'), file, dir, o.profileDir, workers);
      const after = await floor(file);
      return { ...r, floor: (before + after) / 2, floors: `floor before/after it ${Math.round(before)}/${Math.round(after)} records/s` };
    };
    const cli = await bracketed(1);
    // threads parsing (--workers: the main one and parser threads), one per core: beside the one-thread default, same run
    const threads = threadsPerCore() > 1 ? threadsPerCore() : 2;
    const withThreads = await bracketed(threads);
    const baselineName = 'read + JSON.parse of every line only';
    const row = (name: string, value: number, note?: string, floorRate = base): Row => ({
      case: CASE,
      name,
      value: Math.round(value),
      unit: 'records/s',
      baseline: {
        name: floorRate === base ? baselineName : `${baselineName}, mean of the runs before and after`,
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
      `peak RSS ${rssOf(withThreads)}; ${withThreads.floors}`,
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
    rows.push(...(await crowdsec(reqs, o, dir, { name: 'kong-siem replay CLI end to end, records/s', value: Math.round(cli.rate) })));
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
