// `kong-siem findings` and `kong-siem top`: read a running aggregator's
// JSON API and print it as a table (or the JSON itself with --json). The
// read token comes from the environment (SIEM_READ_TOKEN, the variable the
// aggregator itself reads), never from a flag: a flag would show it in `ps`
// and in shell history.
import { iso, pct, printable, table, terminalJson } from './table';

export const DEFAULT_URL = 'http://127.0.0.1:9457';
/** Longest wait for one answer: the aggregator answers reads in milliseconds unless it is stuck. */
const TIMEOUT_MS = 10_000;

/** A failure to talk to the aggregator: one line for the user, exit 1. */
export class ClientError extends Error {
  override name = 'ClientError';
}

export interface ClientOptions {
  url: string;
  token?: string;
}

/** GET `path` from the aggregator as JSON; every failure becomes a ClientError saying what to do. */
export async function getJson(o: ClientOptions, path: string): Promise<unknown> {
  let base: URL;
  try {
    base = new URL(o.url);
  } catch {
    throw new ClientError(`--url ${o.url} is not a URL (e.g. ${DEFAULT_URL})`);
  }
  // The aggregator may sit under a path prefix behind a proxy: keep it.
  const target = new URL(base.pathname.replace(/\/+$/, '') + path, base);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  let res: Response;
  try {
    res = await fetch(target, { headers, signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    throw new ClientError(`cannot reach the aggregator at ${base.origin} (${cause}): is it running? (kong-siem serve, or --url)`);
  }
  const text = await res.text();
  if (res.status === 401) {
    throw new ClientError(
      o.token
        ? `the aggregator refused SIEM_READ_TOKEN (401): set it to the aggregator's read token`
        : `the aggregator wants a read token (401): set SIEM_READ_TOKEN`,
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ClientError(`${target.pathname} answered ${res.status} with no JSON: is ${base.origin} a kong-siem aggregator?`);
  }
  if (!res.ok) {
    const why = (body as { error?: unknown }).error;
    throw new ClientError(`${target.pathname} answered ${res.status}${typeof why === 'string' ? `: ${why}` : ''}`);
  }
  return body;
}

type FindingJson = Record<string, unknown> & { type: string; service: string; count: number; since?: number };

/** Fields shown in their own column; the rest of a finding goes to `details`, so new rule types print too. */
const COLUMNS = new Set(['type', 'service', 'ip', 'credential', 'count', 'ratio', 'since']);

function details(f: FindingJson): string {
  const out: string[] = [];
  for (const [k, v] of Object.entries(f)) {
    if (COLUMNS.has(k) || v === undefined) continue;
    if (Array.isArray(v)) out.push(`${k}: ${v.slice(0, 4).join(' ')}${v.length > 4 ? ` (+${v.length - 4})` : ''}`);
    else out.push(`${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  }
  return out.join(', ');
}

export function findingsTable(answer: { generated_at: number; findings: FindingJson[] }): string {
  const { findings } = answer;
  if (findings.length === 0) return `No findings (at ${iso(answer.generated_at)}).\n`;
  const rows = findings.map((f) => [
    f.type,
    f.service,
    String(f.ip ?? f.credential ?? ''),
    String(f.count),
    typeof f.ratio === 'number' ? pct(f.ratio) : '',
    iso(f.since),
    details(f),
  ]);
  const head = `${findings.length} finding${findings.length === 1 ? '' : 's'} at ${iso(answer.generated_at)}:\n`;
  return `${head}${table(['type', 'service', 'ip / credential', 'count', 'ratio', 'since', 'details'], rows)}\n`;
}

export interface TopJson {
  service: string;
  by: 'requests' | 'errors';
  window_seconds: number;
  items: { ip: string; count: number }[];
  other: number;
}

export function topTable(lists: TopJson[]): string {
  if (lists.length === 0) return 'No service has records yet.\n';
  return lists
    .map((t) => {
      const total = t.items.reduce((n, it) => n + it.count, t.other);
      const share = (n: number) => (total > 0 ? pct(n / total) : '-');
      const rows = t.items.map((it, i) => [String(i + 1), it.ip, String(it.count), share(it.count)]);
      rows.push(['', 'other', String(t.other), share(t.other)]);
      const title = `${printable(t.service)}: top IPs by ${t.by} in the last ${t.window_seconds}s`;
      return `${title}\n${table(['#', 'ip', t.by, 'share'], rows).replace(/^/gm, '  ')}\n`;
    })
    .join('\n');
}

export interface FindingsFlags {
  url: string;
  type?: string;
  service?: string;
  json?: boolean;
}

export async function findingsCommand(flags: FindingsFlags, token: string | undefined): Promise<string> {
  const q = new URLSearchParams();
  if (flags.type) q.set('type', flags.type);
  if (flags.service) q.set('service', flags.service);
  const qs = q.size ? `?${q}` : '';
  const answer = (await getJson({ url: flags.url, token }, `/v1/findings${qs}`)) as { generated_at: number; findings: FindingJson[] };
  return flags.json ? `${terminalJson(answer)}\n` : findingsTable(answer);
}

export interface TopFlags {
  url: string;
  by: 'requests' | 'errors';
  n?: number;
  json?: boolean;
}

/**
 * One service: GET /v1/top. No service: every service the aggregator holds,
 * as GET /v1/settings lists them, one /v1/top each (so every list is the
 * endpoint's own answer).
 */
export async function topCommand(service: string | undefined, flags: TopFlags, token: string | undefined): Promise<string> {
  const o = { url: flags.url, token };
  let services: string[];
  if (service !== undefined) services = [service];
  else {
    const s = (await getJson(o, '/v1/settings')) as { services?: Record<string, unknown> };
    services = Object.keys(s.services ?? {}).sort();
  }
  const lists: TopJson[] = [];
  for (const svc of services) {
    const q = new URLSearchParams({ service: svc, by: flags.by });
    if (flags.n !== undefined) q.set('n', String(flags.n));
    lists.push((await getJson(o, `/v1/top?${q}`)) as TopJson);
  }
  if (flags.json) return `${terminalJson(service !== undefined ? lists[0] : lists)}\n`;
  return topTable(lists);
}
