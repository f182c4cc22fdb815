// A real aggregator listening on a loopback port, for integration tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { loadConfig, type Config } from '../../aggregator/config';
import { buildApp, type Siem } from '../../aggregator/app';

export interface RunningAggregator extends Siem {
  /** base URL, e.g. http://127.0.0.1:40123 */
  url: string;
  close(): Promise<void>;
}

/**
 * Start an aggregator on 127.0.0.1 and a free port. `env` holds SIEM_*
 * overrides (strings, as in the environment); logging is silent unless
 * SIEM_LOG_LEVEL is given. `wallNow` injects the wall clock.
 */
export async function startAggregator(
  env: Record<string, string> = {},
  opts: { wallNow?: () => number; onLog?: (line: Record<string, unknown>) => void } = {},
): Promise<RunningAggregator> {
  const config: Readonly<Config> = loadConfig({ SIEM_LOG_LEVEL: 'silent', ...env, SIEM_HOST: '127.0.0.1', SIEM_PORT: '0' });
  const onLog = opts.onLog;
  const logger = onLog
    ? { level: config.logLevel, stream: { write: (s: string) => onLog(JSON.parse(s) as Record<string, unknown>) } }
    : undefined;
  const siem = buildApp(config, { wallNow: opts.wallNow, logger });
  await siem.app.listen({ host: '127.0.0.1', port: 0 });
  const addr = siem.app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('aggregator has no TCP address');
  return { ...siem, url: `http://127.0.0.1:${addr.port}`, close: () => siem.app.close() };
}

async function answer(res: Response): Promise<{ status: number; body: any }> {
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* keep text */
  }
  return { status: res.status, body };
}

/** POST a batch as JSON; returns status and parsed body. */
export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  return answer(await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: payload }));
}

export async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  return answer(await fetch(url, { headers }));
}

/** Value of one series in a Prometheus text exposition, or undefined. */
export function metricValue(exposition: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const p of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) got[p[1] as string] = p[2] as string;
    const want = Object.entries(labels);
    if (want.length !== Object.keys(got).length) continue;
    if (want.every(([k, v]) => got[k] === v)) return Number(m[4]);
  }
  return undefined;
}

export interface SpawnedAggregator {
  child: ChildProcess;
  /** port, once the server logged that it listens (at once when a port was given) */
  port: Promise<number>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** everything it wrote so far (JSON log lines) */
  log(): string;
}

/**
 * The aggregator as its own process (`node <out>/aggregator/server.js`), for
 * signal, restart and fault tests, on `port` (0: any free one, read from its
 * listen line, which needs SIEM_LOG_LEVEL info or lower). With `t`, killed in
 * `t.after` if still alive.
 */
export function spawnAggregator(t: { after(fn: () => void): void } | undefined, env: Record<string, string>, port = 0): SpawnedAggregator {
  const server = resolve(__dirname, '../../aggregator/server.js');
  const child = spawn(process.execPath, [server], {
    env: { ...process.env, SIEM_LOG_LEVEL: 'info', ...env, SIEM_HOST: '127.0.0.1', SIEM_PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t?.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  const listening =
    port !== 0
      ? Promise.resolve(port)
      : new Promise<number>((ok, fail) => {
          const deadline = setTimeout(() => fail(new Error(`no listen line in: ${out}`)), 60_000); // a bound for a hung start, generous for a loaded machine
          child.stdout?.on('data', () => {
            const m = /listening at http:\/\/127\.0\.0\.1:(\d+)/i.exec(out);
            if (m) {
              clearTimeout(deadline);
              ok(Number(m[1]));
            }
          });
        });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((ok) =>
    child.on('exit', (code, signal) => ok({ code, signal })),
  );
  return { child, port: listening, exited, log: () => out };
}
