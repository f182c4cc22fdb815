// A real aggregator listening on a loopback port, for integration tests.
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

/** POST a batch as JSON; returns status and parsed body. */
export async function postJson(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* keep text */
  }
  return { status: res.status, body: parsed };
}

export async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { headers });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* keep text */
  }
  return { status: res.status, body: parsed };
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
