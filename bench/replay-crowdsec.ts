// CrowdSec's one-shot file mode on the replay bench's traffic, written as an
// nginx access log: the comparison row of case 7 (bench/replay.ts), when the
// Debian package is installed.
import { spawnSync } from 'node:child_process';
import { cpSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import YAML from 'yaml';
import type { Request } from '../cli/kong-traffic';
import { freePort } from '../test/helpers/loopback';
import type { Row } from './result';
import { timed } from './timed';

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

export async function crowdsec(
  CASE: string,
  reqs: readonly Request[],
  o: { quick?: boolean },
  dir: string,
  kong: { name: string; value: number },
): Promise<Row[]> {
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
