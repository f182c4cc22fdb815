// `kong-siem decisions ...`: the operator's side of the decision feed (list,
// add, delete against an aggregator) and the Kong-native path for users
// without CrowdSec: `export --format kong` prints the active bans as Kong's
// bundled ip-restriction plugin (declarative config), `sync` keeps a DB-mode
// Kong's ip-restriction deny list equal to them through the Admin API.

import { printable } from './table';

export interface AggregatorAccess {
  url: string;
  /** SIEM_ADMIN_TOKEN (or the read token, for list/export/sync) */
  token?: string;
  /** a bouncer key: read the set as a bouncer does (stream, startup=true) */
  apiKey?: string;
}

export interface ListedDecision {
  id: number;
  origin: string;
  scope: string;
  value: string;
  duration: string;
  scenario: string;
  reason?: string;
  /** when it was made, the aggregator's wall clock in ms (admin listing only) */
  created?: number;
  evidence?: { type: string; service: string; count: number; ratio?: number; since: number }[];
}

/** Which decisions a bulk delete takes back: every given field must match. */
export interface DecisionFilter {
  /** one of its findings is on this service (so never a manual decision) */
  service?: string;
  scenario?: string;
  origin?: string;
  /** made within this many ms before the listing */
  sinceMs?: number;
}

export class DecisionsCliError extends Error {
  override name = 'DecisionsCliError';
}

const base = (url: string) => url.replace(/\/+$/, '');

async function call(
  method: string,
  url: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<{ status: number; json: unknown; text: string }> {
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (err) {
    throw new DecisionsCliError(`${method} ${url}: ${(err as Error).message}`);
  }
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

function fail(what: string, r: { status: number; json: unknown; text: string }): never {
  const o = r.json as { error?: string; message?: string } | undefined;
  throw new DecisionsCliError(`${what}: ${r.status} ${o?.error ?? o?.message ?? r.text.slice(0, 200)}`);
}

const bearer = (token: string | undefined): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {});

/** The active decisions: the admin listing, or a bouncer's startup pull with `apiKey`. */
export async function activeDecisions(a: AggregatorAccess): Promise<ListedDecision[]> {
  if (a.apiKey) {
    const r = await call('GET', `${base(a.url)}/v1/decisions/stream?startup=true`, { 'x-api-key': a.apiKey });
    if (r.status !== 200) fail('decision stream', r);
    return ((r.json as { new: ListedDecision[] | null }).new ?? []) as ListedDecision[];
  }
  return (await adminListing(a)).decisions;
}

async function adminListing(a: AggregatorAccess): Promise<{ generated_at: number; decisions: ListedDecision[] }> {
  const r = await call('GET', `${base(a.url)}/v1/admin/decisions`, bearer(a.token));
  if (r.status !== 200) fail('decision listing', r);
  return r.json as { generated_at: number; decisions: ListedDecision[] };
}

/** The decisions of `list` that `f` selects; `now` is the listing's own clock, so the CLI's clock does not matter. */
export function selected(list: readonly ListedDecision[], f: DecisionFilter, now: number): ListedDecision[] {
  return list.filter(
    (d) =>
      (f.service === undefined || (d.evidence ?? []).some((e) => e.service === f.service)) &&
      (f.scenario === undefined || d.scenario === f.scenario) &&
      (f.origin === undefined || d.origin === f.origin) &&
      (f.sinceMs === undefined || (d.created !== undefined && d.created >= now - f.sinceMs)),
  );
}

/**
 * Take back every active decision `f` selects (the bans an upstream outage
 * left: every client of the service failed at once), or with `dryRun` only
 * say which. One already gone meanwhile (expired, deleted by someone else) is
 * not an error. Returns the selected decisions and how many were deleted.
 */
export async function deleteSelected(
  a: AggregatorAccess,
  f: DecisionFilter,
  dryRun: boolean,
): Promise<{ selected: ListedDecision[]; deleted: number }> {
  const listing = await adminListing(a);
  const chosen = selected(listing.decisions, f, listing.generated_at);
  let deleted = 0;
  if (!dryRun)
    for (const d of chosen) {
      const r = await call('DELETE', `${base(a.url)}/v1/decisions/${d.id}`, bearer(a.token));
      if (r.status === 204) deleted++;
      else if (r.status !== 404) fail(`delete ${d.id} (${deleted} of ${chosen.length} deleted before it)`, r);
    }
  return { selected: chosen, deleted };
}

export async function addDecision(a: AggregatorAccess, value: string, duration: string, reason?: string): Promise<ListedDecision> {
  const r = await call('POST', `${base(a.url)}/v1/decisions`, bearer(a.token), { value, duration, ...(reason ? { reason } : {}) });
  if (r.status !== 201) fail(`ban ${value}`, r);
  return r.json as ListedDecision;
}

export async function deleteDecision(a: AggregatorAccess, id: number): Promise<void> {
  const r = await call('DELETE', `${base(a.url)}/v1/decisions/${id}`, bearer(a.token));
  if (r.status !== 204) fail(`delete ${id}`, r);
}

/** One line per decision: id, value, scope, origin, scenario, time left, the strongest evidence. */
export function table(list: readonly ListedDecision[]): string {
  const rows = [['ID', 'VALUE', 'SCOPE', 'ORIGIN', 'SCENARIO', 'LEFT', 'EVIDENCE']];
  for (const d of list) {
    const e = d.evidence?.[0];
    const why = e ? `${e.type} on ${e.service}: ${e.count}${e.ratio === undefined ? '' : ` (ratio ${e.ratio})`}` : (d.reason ?? '');
    rows.push([String(d.id), d.value, d.scope, d.origin, d.scenario, d.duration, why].map(printable));
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] as string).length)));
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] as number)))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

/** The deny list Kong should hold: every active ban's value, sorted, once. */
export function denyList(list: readonly ListedDecision[]): string[] {
  return [...new Set(list.map((d) => d.value))].sort();
}

export interface KongExportOptions {
  /** attach the plugin to this service / route (by name or id); global otherwise */
  service?: string;
  route?: string;
  status?: number;
  message?: string;
}

const q = (s: string) => JSON.stringify(s);

/**
 * A declarative-config snippet enabling Kong's bundled ip-restriction plugin
 * with the bans as `config.deny` (each an IP or CIDR, which the plugin's
 * `ip_or_cidr` type accepts, IPv6 included). YAML written by hand: every value
 * is a validated address, double-quoted, so no YAML library is needed at run time.
 */
export function kongSnippet(deny: readonly string[], o: KongExportOptions = {}): string {
  const lines = ['_format_version: "3.0"', `# ${deny.length} active kong-siem ban(s)`, 'plugins:', '  - name: ip-restriction'];
  if (o.service) lines.push(`    service: ${q(o.service)}`);
  if (o.route) lines.push(`    route: ${q(o.route)}`);
  lines.push('    config:');
  if (deny.length === 0) lines.push('      deny: []');
  else {
    lines.push('      deny:');
    for (const v of deny) lines.push(`        - ${q(v)}`);
  }
  if (o.status !== undefined) lines.push(`      status: ${o.status}`);
  if (o.message !== undefined) lines.push(`      message: ${q(o.message)}`);
  return lines.join('\n') + '\n';
}

export interface KongAdmin {
  adminUrl: string;
  pluginId: string;
  /** extra headers, e.g. Kong-Admin-Token (Enterprise RBAC) */
  headers?: Record<string, string>;
}

export type SyncResult =
  | { changed: false; deny: string[] }
  | { changed: true; deny: string[]; added: string[]; removed: string[]; enabled: boolean };

interface KongPlugin {
  id: string;
  name: string;
  enabled: boolean;
  config: { allow?: string[] | null; deny?: string[] | null };
}

/**
 * One sync round: read the plugin, compare its deny list with `deny`, PATCH
 * when they differ. ip-restriction needs `allow` or `deny` non-empty, so with
 * no bans and no allow list the plugin is disabled instead (and enabled again
 * with the next ban); a plugin with an allow list keeps it, and stays enabled.
 */
export async function syncKong(k: KongAdmin, deny: readonly string[]): Promise<SyncResult> {
  const url = `${base(k.adminUrl)}/plugins/${encodeURIComponent(k.pluginId)}`;
  const headers = { accept: 'application/json', ...k.headers };
  const got = await call('GET', url, headers);
  if (got.status !== 200) fail(`Kong Admin API GET /plugins/${k.pluginId}`, got);
  const p = got.json as KongPlugin;
  if (p.name !== 'ip-restriction') throw new DecisionsCliError(`plugin ${k.pluginId} is ${p.name}, not ip-restriction`);
  const want = [...deny].sort();
  const have = [...(p.config.deny ?? [])].sort();
  const hasAllow = (p.config.allow ?? []).length > 0;
  const enabled = want.length > 0 || hasAllow;
  const same = have.length === want.length && have.every((v, i) => v === want[i]);
  if (enabled ? same && p.enabled : !p.enabled) return { changed: false, deny: want };
  // an empty deny with no allow would fail Kong's "at least one of allow, deny" check: disable, keep the last list
  const body = enabled ? { enabled: true, config: { deny: want } } : { enabled: false };
  const r = await call('PATCH', url, { ...headers }, body);
  if (r.status !== 200) fail(`Kong Admin API PATCH /plugins/${k.pluginId}`, r);
  const wantSet = new Set(want);
  const haveSet = new Set(have);
  return { changed: true, deny: want, added: want.filter((v) => !haveSet.has(v)), removed: have.filter((v) => !wantSet.has(v)), enabled };
}
