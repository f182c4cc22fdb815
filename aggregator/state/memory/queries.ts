// Read-only answers of the in-memory backend: findings (each rule's
// candidates evaluated at the clock) and top lists (from the top candidates).
import type { TopList } from '../../../common/record';
import { cmp, CREDENTIAL_RULES, IP_RULES, type Finding } from '../../rules/registry';
import { sinceOf } from '../../rules/step';
import type { CredentialCounts, CredentialRule, Run } from '../../rules/types';
import { emptyCounts, sumSeries, type Counts } from '../../window';
import { LEVEL_MS, windowFrom, windowTo, type WindowLevel } from '../level-grid';
import { WINDOW } from '../layout';
import { firstK } from '../first-k';
import { FindingsCut } from '../findings-cut';
import { wantsType, type FindingFilter, type ServiceGauges } from '../state';
import type { CredentialEntry, ServiceState, Slot, SlotCounts } from './service';

/** Credential candidates that hold, not built yet: per candidate its rule, service, entry, run and count (arrays, no object each). */
class Pending {
  readonly rules: CredentialRule[] = [];
  readonly svcs: ServiceState[] = [];
  readonly es: CredentialEntry[] = [];
  readonly runs: Run[] = [];
  readonly counts: number[] = [];

  push(rule: CredentialRule, svc: ServiceState, e: CredentialEntry, run: Run, count: number): void {
    this.rules.push(rule);
    this.svcs.push(svc);
    this.es.push(e);
    this.runs.push(run);
    this.counts.push(count);
  }

  /**
   * Of the candidates `tied` (all at one count), at most `k`, the first in
   * compareFindings' tie order (type, service, credential): a cut through
   * many equal counts builds `k` findings, not all of them.
   */
  firstTied(tied: readonly number[], k: number): number[] {
    return firstK(
      tied,
      k,
      (i, j) =>
        cmp((this.rules[i] as CredentialRule).type, (this.rules[j] as CredentialRule).type) ||
        cmp((this.svcs[i] as ServiceState).name, (this.svcs[j] as ServiceState).name) ||
        cmp((this.es[i] as CredentialEntry).key, (this.es[j] as CredentialEntry).key),
    );
  }

  build(i: number, now: number): Finding {
    const e = this.es[i] as CredentialEntry;
    const svc = this.svcs[i] as ServiceState;
    const cc: CredentialCounts = { ips: e.ips, now };
    return (this.rules[i] as CredentialRule).finding(svc.name, e.key, cc, svc.settings, sinceOf(this.runs[i] as Run, e.lastTs)) as Finding;
  }
}

/** Findings of `services` at clock `now`, at most `max`, the strongest first with a share for each type (findings-cut.ts). */
export function findingsOf(
  services: Iterable<ServiceState>,
  cx: SlotCounts,
  ipOf: (e: Slot) => string,
  now: number,
  filter: FindingFilter,
  max: number,
): Finding[] {
  const out: Finding[] = [];
  const pending = new Pending();
  const want = (t: string) => wantsType(filter, t);
  // one counts object for every candidate's rule calls; a finding kept gets its own
  const cc: { ips: CredentialCounts['ips']; now: number } = { ips: new Map(), now };
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
        cc.ips = e.ips;
        // ranked by count; the finding (its IP list sorted) is built only once kept
        if (rule.holds(cc, s)) pending.push(rule, svc, e, run, rule.count(cc, s));
      }
    });
  }
  // Bounded output (SIEM_MAX_FINDINGS, findings-cut.ts): per type its first `max`, then a share each;
  // a credential finding is built only when it is among its rule's first `max`, cut exactly as a full sort would
  const cut = new FindingsCut(max);
  for (const f of out) cut.push(f);
  for (const rule of CREDENTIAL_RULES) {
    const mine: number[] = [];
    for (let i = 0; i < pending.counts.length; i++) if (pending.rules[i] === rule) mine.push(i);
    const least = leastKept(
      mine.map((i) => pending.counts[i] as number),
      max,
    );
    const tied: number[] = [];
    for (const i of mine) {
      const c = pending.counts[i] as number;
      if (c > least) cut.push(pending.build(i, now));
      else if (c === least) tied.push(i);
    }
    // past the first `max` in tie order a tied candidate has `max` findings of its rule before it: never kept
    for (const i of pending.firstTied(tied, max)) cut.push(pending.build(i, now));
  }
  return cut.take();
}

/**
 * The max-th highest of `counts` (-Infinity when all are kept): within a
 * rule compareFindings orders by count first, so none below it is in the
 * rule's first `max`, and every one at or above it is built and sorted (ties
 * on the cut included).
 */
function leastKept(counts: readonly number[], max: number): number {
  const n = counts.length;
  if (n <= max || max <= 0) return Number.NEGATIVE_INFINITY;
  const all = new Float64Array(n);
  for (let i = 0; i < n; i++) all[i] = -(counts[i] as number);
  all.sort();
  return -(all[max - 1] as number);
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
