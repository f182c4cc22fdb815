// Read-only answers of the in-memory backend: findings (each rule's
// candidates evaluated at the clock) and top lists (from the top candidates).
import type { TopList } from '../../../common/record';
import { compareFindings, CREDENTIAL_RULES, IP_RULES, type Finding, type FindingType } from '../../rules/registry';
import { sinceOf } from '../../rules/step';
import type { CredentialCounts, CredentialRule, Run } from '../../rules/types';
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
        if (!rule.holds(cc, s)) continue;
        // ranked by a stand-in holding what compareFindings reads; the finding (its IP list sorted) is built once kept
        out.push(new Pending(rule, svc, e, cc, run) as unknown as Finding);
      }
    });
  }
  // Bounded output (SIEM_MAX_FINDINGS): the strongest first.
  const kept = strongest(out, max);
  for (let i = 0; i < kept.length; i++) {
    const f = kept[i] as Finding | Pending;
    if (f instanceof Pending) kept[i] = f.build();
  }
  return kept;
}

/** A credential finding not built yet: what compareFindings reads, and what builds it. */
class Pending {
  readonly type: string;
  readonly service: string;
  readonly credential: string;
  readonly count: number;
  constructor(
    readonly rule: CredentialRule,
    readonly svc: ServiceState,
    readonly e: CredentialEntry,
    readonly cc: CredentialCounts,
    readonly run: Run,
  ) {
    this.type = rule.type;
    this.service = svc.name;
    this.credential = e.key;
    this.count = rule.count(cc, svc.settings);
  }
  build(): Finding {
    return this.rule.finding(this.service, this.credential, this.cc, this.svc.settings, sinceOf(this.run, this.e.lastTs)) as Finding;
  }
}

/**
 * The `max` first of `all` in compareFindings order, sorted. Counts come
 * first in that order: only findings at or above the max-th count are
 * sorted (all of that count, so ties are cut exactly as a full sort would).
 */
function strongest(all: Finding[], max: number): Finding[] {
  if (all.length > max && max > 0) {
    const counts = new Float64Array(all.length);
    for (let i = 0; i < all.length; i++) counts[i] = -(all[i] as Finding).count;
    counts.sort();
    const least = -(counts[max - 1] as number);
    all = all.filter((f) => f.count >= least);
  }
  all.sort(compareFindings);
  return all.length > max ? all.slice(0, max) : all;
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
