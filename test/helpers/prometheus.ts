// The real Prometheus tools for tests: promtool, amtool, and a prometheus
// server on loopback scraping an aggregator. A missing tool fails the test
// with the Debian package to install: these tests never skip.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './loopback';

export { freePort };

/** Debian package of each tool (.ci/run installs them). */
export const TOOL_PACKAGES = {
  prometheus: 'prometheus',
  promtool: 'prometheus',
  amtool: 'prometheus-alertmanager',
} as const;
export type Tool = keyof typeof TOOL_PACKAGES;

/** Absolute path of `tool` on PATH; throws saying how to install it. */
export function requireTool(tool: Tool): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, tool);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      /* not here */
    }
  }
  throw new Error(`${tool} is not installed (not on PATH): run \`apt-get install -y ${TOOL_PACKAGES[tool]}\` (Debian; .ci/run does this)`);
}

/**
 * The repository root: the nearest directory above this compiled file that
 * holds deploy/prometheus/prometheus.yml, so it works from dist/ and from any
 * other outDir inside the repository, whatever its depth.
 */
export function repoRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'deploy', 'prometheus', 'prometheus.yml'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no deploy/prometheus/prometheus.yml above ${__dirname}`);
  }
}

/** Path of a file under the repository root, from '/'-separated parts. */
export function repoPath(...parts: string[]): string {
  return path.join(repoRoot(), ...parts);
}

/** The shipped rule files, sorted. */
/** The metric names of docs/metrics.md's table, in its order: the one list the metric tests check against. */
export function documentedMetrics(): string[] {
  const text = fs.readFileSync(repoPath('docs', 'metrics.md'), 'utf8');
  const names = [...text.matchAll(/^\| `(kong_siem_[a-z_]+)` \|/gm)].map((m) => m[1] as string);
  // an empty list would make every check against it pass
  if (names.length === 0) throw new Error('docs/metrics.md: no metric rows (| `kong_siem_…` |) found');
  return names;
}

/** Metric names in a PromQL expression: identifiers left once strings, label
 *  matchers, ranges, grouping clauses, function calls and keywords are gone. */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  return [...bare.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\(?)/g)]
    .filter((m) => m[2] === '')
    .map((m) => m[1] as string)
    .filter((n) => !['and', 'or', 'unless', 'bool', 'offset', 'by', 'without'].includes(n));
}

export function ruleFiles(): string[] {
  const dir = repoPath('deploy', 'prometheus', 'rules');
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.yml'))
    .sort()
    .map((f) => path.join(dir, f));
}

export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a tool to completion (async: an in-process aggregator keeps serving). */
export function runTool(tool: Tool, args: string[], opts: { input?: string; cwd?: string; timeoutMs?: number } = {}): Promise<ToolResult> {
  const bin = requireTool(tool);
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${tool} ${args.join(' ')}: no exit within ${opts.timeoutMs ?? 30_000} ms`));
    }, opts.timeoutMs ?? 30_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

/** Poll `fn` until it returns something other than undefined; bounded. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000, everyMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface RunningPrometheus {
  /** base URL, e.g. http://127.0.0.1:40123 */
  url: string;
  pid: number;
  /** the tail of its log, for failure messages */
  log(): string;
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  /** host:port of the aggregator, scraped as job="kong-siem" */
  target: string;
  /** rule files to load (absolute paths) */
  ruleFiles?: string[];
  /** scrape and rule evaluation interval, seconds */
  intervalSeconds?: number;
}

const LOG_TAIL_CHARS = 16_384;

/**
 * Start a real prometheus on 127.0.0.1 and a free port, with a temporary
 * config and TSDB, and wait until it is ready. Stop it with stop(), which
 * kills this process by its PID only and removes the temporary directory.
 */
export async function startPrometheus(opts: PrometheusOptions): Promise<RunningPrometheus> {
  const bin = requireTool('prometheus');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kong-siem-prom-'));
  const interval = `${opts.intervalSeconds ?? 1}s`;
  const config = [
    'global:',
    `  scrape_interval: ${interval}`,
    `  evaluation_interval: ${interval}`,
    ...(opts.ruleFiles?.length ? ['rule_files:', ...opts.ruleFiles.map((f) => `  - ${JSON.stringify(f)}`)] : []),
    'scrape_configs:',
    '  - job_name: kong-siem',
    '    static_configs:',
    `      - targets: [${JSON.stringify(opts.target)}]`,
    '',
  ].join('\n');
  const configFile = path.join(dir, 'prometheus.yml');
  fs.writeFileSync(configFile, config);

  // The port is free when picked but may be taken before prometheus binds
  // it: then prometheus exits at once, and another port is tried.
  let lastLog = '';
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const child: ChildProcess = spawn(
      bin,
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${path.join(dir, `data-${attempt}`)}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=info',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let log = '';
    const keep = (d: Buffer) => {
      log = (log + d.toString()).slice(-LOG_TAIL_CHARS);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let exited = false;
    const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
    const stop = async () => {
      if (!exited && child.pid !== undefined) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exit;
        clearTimeout(killer);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    };
    try {
      await waitFor(
        `prometheus ready on ${url}`,
        async () => {
          if (exited) throw new Error('prometheus exited');
          const res = await fetch(`${url}/-/ready`);
          return res.status === 200 ? true : undefined;
        },
        20_000,
      );
      return { url, pid: child.pid as number, log: () => log, stop };
    } catch (err) {
      lastLog = log;
      if (!exited) {
        await stop();
        throw new Error(`${(err as Error).message}\n--- prometheus log ---\n${log}`);
      }
      // exited early (port taken?): try again with a new port
    }
  }
  fs.rmSync(dir, { recursive: true, force: true });
  throw new Error(`prometheus did not start (3 attempts)\n--- prometheus log ---\n${lastLog}`);
}

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

/** Instant query through Prometheus's HTTP API; throws on an API error (bad PromQL included). */
export async function promQuery(url: string, expr: string): Promise<PromSample[]> {
  const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
  if (res.status !== 200 || body.status !== 'success') throw new Error(`query ${expr}: HTTP ${res.status} ${body.error ?? ''}`);
  if (body.data?.resultType !== 'vector') throw new Error(`query ${expr}: result type ${body.data?.resultType}, not vector`);
  return body.data.result as PromSample[];
}

/** GET a Prometheus API path; returns its `data`. */
export async function promApi(url: string, apiPath: string): Promise<any> {
  const res = await fetch(`${url}${apiPath}`);
  const body = (await res.json()) as { status: string; data?: unknown; error?: string };
  if (res.status !== 200 || body.status !== 'success') throw new Error(`${apiPath}: HTTP ${res.status} ${body.error ?? ''}`);
  return body.data;
}

export interface DashboardQuery {
  /** panel title, or `variable <name>` */
  where: string;
  /** PromQL as Grafana would send it, variables replaced */
  expr: string;
}

/** Grafana's variables in a PromQL expression replaced as Grafana would for "All" and a 15s step. */
export function grafanaExpr(expr: string): string {
  return expr
    .replace(/\$__rate_interval|\$\{__rate_interval\}/g, '1m')
    .replace(/\$__interval|\$\{__interval\}/g, '15s')
    .replace(/\$__range|\$\{__range\}/g, '1h')
    .replace(/\$service|\$\{service(:[a-z]+)?\}/g, '.*');
}

/**
 * Every PromQL expression of deploy/grafana/kong-siem.json: panel targets,
 * nested rows included, and query variables (`label_values(expr, label)`
 * becomes `count by (label) (expr)`, the series Grafana reads the values from).
 */
export function dashboardQueries(): DashboardQuery[] {
  const dash = JSON.parse(fs.readFileSync(repoPath('deploy', 'grafana', 'kong-siem.json'), 'utf8'));
  const out: DashboardQuery[] = [];
  const walk = (panels: any[]) => {
    for (const p of panels ?? []) {
      for (const t of p.targets ?? []) if (typeof t.expr === 'string') out.push({ where: String(p.title), expr: grafanaExpr(t.expr) });
      walk(p.panels);
    }
  };
  walk(dash.panels);
  for (const v of dash.templating?.list ?? []) {
    if (v.type !== 'query') continue;
    const q: string = typeof v.query === 'string' ? v.query : v.query?.query;
    const m = /^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$/.exec(q.trim());
    out.push({ where: `variable ${v.name}`, expr: m ? `count by (${m[2]}) (${grafanaExpr(m[1] as string)})` : grafanaExpr(q) });
  }
  return out;
}
