// Read-only answers of the in-memory backend: findings (each rule's
// candidates evaluated at the clock) and top lists (from the top candidates).
import type { TopList } from '../../../common/record';
import { compareFindings, CREDENTIAL_RULES, IP_RULES, type Finding, type FindingType } from '../../rules/registry';
import { sinceOf } from '../../rules/step';
import type { CredentialCounts, Run } from '../../rules/types';
import { emptyCounts, sumSeries, type Counts } from '../../window';
import { LEVEL_MS, windowFrom, windowTo, type WindowLevel } from '../level-grid';
import { WINDOW } from '../layout';
import type { FindingFilter, ServiceGauges } from '../state';
import type { CredentialEntry, ServiceState, Slot, SlotCounts } from './service';

/** Findings of `services` at clock `now`, at most `max`, the strongest first. */
export function findingsOf(
  services: Iterable<ServiceState>,
  cx: SlotCounts,
  ipOf: (e: Slot) => string,
  now: number,
  filter: FindingFilter,
  max: number,
): Finding[] {
  const out: Finding[] = [];
  const want = (t: string) => filter.type === undefined || filter.type === (t as FindingType);
  for (const svc of services) {
    if (filter.service !== undefined && filter.service !== svc.name) continue;
    const s = svc.settings;
    IP_RULES.forEach((rule, i) => {
      if (!want(rule.type)) return;
      for (const [e, run] of svc.ipRuns[i] as Map<Slot, Run>) {
        cx.at(svc, e, now);
        if (rule.holds(cx, s)) out.push(rule.finding(svc.name, ipOf(e), cx, s, sinceOf(run, cx.lastTs)) as Finding);
      }
    });
    CREDENTIAL_RULES.forEach((rule, i) => {
      if (!want(rule.type)) return;
      for (const [e, run] of svc.credentialRuns[i] as Map<CredentialEntry, Run>) {
        const cc: CredentialCounts = { ips: e.ips, now };
        if (rule.holds(cc, s)) out.push(rule.finding(svc.name, e.key, cc, s, sinceOf(run, e.lastTs)) as Finding);
      }
    });
  }
  // Bounded output (SIEM_MAX_FINDINGS): the strongest first.
  out.sort(compareFindings);
  return out.length > max ? out.slice(0, max) : out;
}

/** The first sub-bucket of the service's window (of the window's level) at clock `now`. */
export function windowStart(svc: ServiceState, now: number): number {
  const wl = svc.layout.windows[WINDOW.window] as WindowLevel;
  return Math.floor(now / (LEVEL_MS[wl.level] as number)) - wl.back + 1;
}

/** The service's own counts in its window at clock `now`. */
export function serviceWindow(svc: ServiceState, now: number): Counts {
  const wl = svc.layout.windows[WINDOW.window] as WindowLevel;
  return sumSeries(svc.totals, windowFrom(wl, now), windowTo(wl, now), emptyCounts());
}

export function topOf(
  svc: ServiceState | undefined,
  service: string,
  by: 'requests' | 'errors',
  n: number,
  now: number,
  cx: SlotCounts,
  ipOf: (e: Slot) => string,
  window_seconds: number,
): TopList {
  const list: TopList = { service, by, window_seconds, items: [], other: 0 };
  if (!svc) return list;
  const field = by === 'requests' ? 'requests' : 'failures';
  const cands = by === 'requests' ? svc.topRequests : svc.topErrors;
  list.items = cands.ranked((e) => cx.at(svc, e, now).ip(WINDOW.window)[field], ipOf, n, windowStart(svc, now));
  const total = serviceWindow(svc, now)[field];
  let listed = 0;
  for (const it of list.items) listed += it.count;
  list.other = Math.max(0, total - listed);
  return list;
}

/** A service's gauges at clock `now`, its top lists from `top`. */
export function serviceGauges(svc: ServiceState, now: number, top: (by: 'requests' | 'errors') => TopList): ServiceGauges {
  return {
    service: svc.name,
    topRequests: top('requests'),
    topErrors: top('errors'),
    uniqueIps: svc.uniqueIps(now),
    windowRequests: serviceWindow(svc, now).requests,
  };
}
