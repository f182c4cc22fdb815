// Route-aware success (docs/configuration.md, "Route-aware success"): a
// login route can answer a failed login with 200 and a successful one with a
// redirect, so "200-399 is a success" misses its brute force. A list of the
// statuses that are successes there turns each record's status into the
// outcome the aggregator counts. The plugin takes one list per instance
// (`success_statuses`); /v1/kong-log and replay take one per route
// (SIEM_SUCCESS_STATUSES, `--success-statuses ROUTE=302`).
import type { Outcome } from './record';

export const STATUS_MIN = 100;
export const STATUS_MAX = 599;

/** Route name or id -> the statuses that are successes on it. */
export type SuccessByRoute = ReadonlyMap<string, ReadonlySet<number>>;

/** The outcome of `status` under `successes`; none when no list applies (the status rule then decides). */
export function outcomeOf(status: number, successes: ReadonlySet<number> | undefined): Outcome | undefined {
  if (successes === undefined || successes.size === 0) return undefined;
  return successes.has(status) ? 'success' : 'failure';
}

function statusOf(text: string, where: string): number {
  const n = Number(text);
  if (!/^\d{3}$/.test(text) || n < STATUS_MIN || n > STATUS_MAX)
    throw new Error(`${where}: "${text}" is not a status code ${STATUS_MIN}-${STATUS_MAX}`);
  return n;
}

/**
 * Parse `route=302|303,login=200` (entries separated by commas, statuses by
 * `|`); entries for one route add up. Throws with a message naming the bad
 * entry: a typo must stop the start, not silently count logins the old way.
 */
export function parseSuccessStatuses(spec: string, into = new Map<string, Set<number>>()): Map<string, Set<number>> {
  for (const raw of spec.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const eq = entry.lastIndexOf('=');
    const route = entry.slice(0, eq).trim();
    if (eq <= 0 || route === '') throw new Error(`success statuses: "${entry}" is not ROUTE=STATUS[|STATUS...]`);
    const set = into.get(route) ?? new Set<number>();
    for (const s of entry.slice(eq + 1).split('|')) set.add(statusOf(s.trim(), `success statuses of route "${route}"`));
    into.set(route, set);
  }
  return into;
}
