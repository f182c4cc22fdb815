// Read-only answers of the Redis backend: findings, top lists, gauges. They
// read candidate sets and top-N candidate sorted sets, never all keys, and
// evaluate the registry's rules at the shared clock.
import type { TopItem, TopList } from '../../../common/record';
import { CREDENTIAL_RULES, IP_RULES, type Finding } from '../../rules/registry';
import { sinceOf } from '../../rules/step';
import { NONE } from '../../rules/types';
import { emptyCounts, sumSeries, type Counts } from '../../window';
import { WINDOW } from '../layout';
import { FindingsCut } from '../findings-cut';
import { candidatesOf, inParts } from './candidates';
import { wantsType, type FindingFilter, type ServiceGauges } from '../state';
import { readCred } from './batch';
import { GridCounts } from '../series-counts';
import { rangeMs, seriesOfFields } from './grid-series';
import { ipHistKey } from './keys';
import { readIp, readTotals, scored, type Scripts, type Svc } from './service';

/** Findings of `svcs` at clock `now`, at most `max`, the strongest first with a share for each type (findings-cut.ts). */
export async function findingsAt(r: Scripts, svcs: readonly Svc[], now: number, filter: FindingFilter, max: number): Promise<Finding[]> {
  const cut = new FindingsCut(max);
  const push = (f: Finding) => cut.push(f);
  // one service after another: its parts are read concurrently, the services are not
  for (const svc of svcs) if (filter.service === undefined || filter.service === svc.name) await serviceFindings(r, svc, now, filter, push);
  return cut.take();
}

/** One service's findings, handed to `push`; candidates read a part at a time (candidates.ts). */
async function serviceFindings(r: Scripts, svc: Svc, now: number, filter: FindingFilter, push: (f: Finding) => void): Promise<void> {
  const s = svc.settings;
  const [ips, creds] = await Promise.all([
    candidatesOf(
      r,
      svc.inGroups.map((g) => g.ipCands),
      IP_RULES.map((rule) => wantsType(filter, rule.type)),
    ),
    candidatesOf(
      r,
      svc.inGroups.map((g) => g.credCands),
      CREDENTIAL_RULES.map((rule) => wantsType(filter, rule.type)),
    ),
  ]);
  const totals = ips.length > 0 ? await readTotals(r, svc) : [];
  const cx = new GridCounts();
  const ranges = svc.ranges(now);
  await inParts(ips, async (part) => {
    const views = await Promise.all(part.map(([ip]) => readIp(r, svc, ip)));
    part.forEach(([ip, rules], j) => {
      const v = views[j];
      if (!v || v.last === NONE) return;
      cx.at(ranges, v.series, totals);
      IP_RULES.forEach((rule, i) => {
        if ((rules & (1 << i)) === 0 || !rule.holds(cx, s)) return;
        const since = v.since[rule.type];
        push(rule.finding(svc.name, ip, cx, s, sinceOf(since === undefined ? NONE : Number(since), v.last)) as Finding);
      });
    });
  });
  await inParts(creds, async (part) => {
    const views = await Promise.all(part.map(([cr]) => readCred(r, svc, cr)));
    part.forEach(([cr, rules], j) => {
      const [flat, meta] = views[j] ?? [[], {}];
      if (meta.L === undefined) return;
      const cc = { ips: scored(flat), now };
      CREDENTIAL_RULES.forEach((rule, i) => {
        if ((rules & (1 << i)) === 0 || !rule.holds(cc, s)) return;
        const run = meta[rule.type];
        push(rule.finding(svc.name, cr, cc, s, sinceOf(run === undefined ? NONE : Number(run), Number(meta.L))) as Finding);
      });
    });
  });
}

/** Sum of one count (r or f) of an IP key over the key range (from, to]. */
async function windowSum(r: Scripts, svc: Svc, ip: string, kind: 'r' | 'f', from: number, to: number): Promise<number> {
  const c = sumSeries(
    seriesOfFields(Object.entries(await r.hgetall(ipHistKey(svc.at(ip).tag, svc.id, ip))).flat()),
    from,
    to,
    emptyCounts(),
  );
  return kind === 'r' ? c.requests : c.failures;
}

/** The key range (from, to] of the service's window at clock `now`. */
function windowRange(svc: Svc, now: number): [number, number] {
  const r = svc.ranges(now);
  return [r[2 * WINDOW.window] as number, r[2 * WINDOW.window + 1] as number];
}

/** The service's requests and failures in its window, from its totals. */
async function windowTotals(r: Scripts, svc: Svc, now: number): Promise<Counts> {
  const [from, to] = windowRange(svc, now);
  return sumSeries(await readTotals(r, svc, true), from, to, emptyCounts());
}

export async function topAt(
  r: Scripts,
  svc: Svc | undefined,
  service: string,
  by: 'requests' | 'errors',
  n: number | undefined,
  now: number,
  window_seconds: number,
): Promise<TopList> {
  const list: TopList = { service, by, window_seconds, items: [], other: 0 };
  if (!svc) return list;
  const f = by === 'requests' ? 'r' : 'f';
  const [from, to] = windowRange(svc, now);
  const want = n ?? svc.settings.top_n;
  const keys = svc.inGroups.map((g) => (by === 'requests' ? g.keys.topRequests : g.keys.topErrors));
  // Scores are never below a key's count now (writes.ts TOP_LUA). Read the
  // best-scored keys of every group, count them exactly, and stop once the
  // N-th count is at least the best score not read: no key unread can beat
  // it. Stale high scores (keys gone quiet since) only make us read on.
  const counted = new Map<string, number>();
  const totalsRead = windowTotals(r, svc, now);
  totalsRead.catch(() => {}); // awaited below; must not reject unhandled if the loop fails first
  let items: TopItem[] = [];
  for (let read = svc.topCap; ; read *= 4) {
    const pages = await Promise.all(keys.map((key) => r.zrevrange(key, 0, read, 'WITHSCORES')));
    let unread = 0;
    const fresh: string[] = [];
    for (const flat of pages) {
      for (let i = 0; i < flat.length; i += 2) {
        const ip = flat[i] as string;
        if (i / 2 === read) unread = Math.max(unread, Number(flat[i + 1]));
        else if (!counted.has(ip)) fresh.push(ip);
      }
    }
    const counts = await Promise.all(fresh.map((ip) => windowSum(r, svc, ip, f, from, to)));
    fresh.forEach((ip, i) => counted.set(ip, counts[i] ?? 0));
    items = [...counted].filter(([, count]) => count > 0).map(([ip, count]) => ({ ip, count }));
    items.sort((a, b) => b.count - a.count || (a.ip < b.ip ? -1 : 1));
    items = items.slice(0, want);
    const certified = items.length === want ? (items[want - 1] as TopItem).count >= unread : unread === 0;
    if (certified) break;
  }
  list.items = items;
  const totals = await totalsRead;
  const total = by === 'requests' ? totals.requests : totals.failures;
  let listed = 0;
  for (const it of list.items) listed += it.count;
  list.other = Math.max(0, total - listed);
  return list;
}

/** One service's gauges, with the IP and credential keys it holds. */
export async function serviceGauges(r: Scripts, svc: Svc, now: number): Promise<[ServiceGauges, number, number]> {
  const L = svc.layout;
  const [from, to] = windowRange(svc, now);
  const [startMs, endMs] = rangeMs(from, to);
  const expired = `(${now - L.longestMs}`;
  const sum = (xs: number[]) => xs.reduce((a, x) => a + x, 0);
  const [topRequests, topErrors, uniqueIps, totals, ipsHeld, credsHeld] = await Promise.all([
    topAt(r, svc, svc.name, 'requests', undefined, now, svc.settings.window_seconds),
    topAt(r, svc, svc.name, 'errors', undefined, now, svc.settings.window_seconds),
    // IP keys whose newest record falls in the window's sub-buckets (the memory backend's lastSeen histogram)
    Promise.all(svc.inGroups.map((g) => r.zcount(g.keys.seenIps, startMs, endMs - 1))).then(sum),
    windowTotals(r, svc, now),
    Promise.all(svc.inGroups.map((g) => r.zcount(g.keys.seenIps, expired, '+inf'))).then(sum),
    Promise.all(svc.inGroups.map((g) => r.zcount(g.keys.seenCreds, expired, '+inf'))).then(sum),
  ]);
  return [{ service: svc.name, topRequests, topErrors, uniqueIps, windowRequests: totals.requests }, ipsHeld, credsHeld];
}
