// An exact, brute-force reading of the rules of docs/configuration.md over a list of
// records at clock T: the yardstick for the aggregator's windowed state.
import type { KeyedRecord } from '../../aggregator/state/state';
import type { FindingType } from '../../aggregator/rules/registry';
import { DEFAULT_SETTINGS, type DetectionSettings } from '../../common/settings';

/** Per finding type: "service|ip" (or "service|credential") -> the finding's count. */
export type RefFindings = Record<FindingType, Map<string, number>>;

const inRange = (ts: number, from: number, to: number) => ts > from && ts <= to;

export function referenceFindings(records: readonly KeyedRecord[], T: number, s: DetectionSettings = DEFAULT_SETTINGS): RefFindings {
  const W = s.window_seconds * 1000;
  const S = s.spike_window_seconds * 1000;
  const B = s.spike_baseline_seconds * 1000;
  const C = s.credential_window_seconds * 1000;
  const E = s.error_burst_seconds * 1000;
  const A = s.auth_fail_window_seconds * 1000;
  const perIp = new Map<
    string,
    { req: number; fail: number; sReq: number; sFail: number; bSucc: number; eReq: number; eFail: number; aReq: number; aFail: number }
  >();
  const perCred = new Map<string, Set<string>>();
  const serviceRequests = new Map<string, number>();
  for (const r of records) {
    const k = `${r.service}|${r.ipKey}`;
    let v = perIp.get(k);
    if (!v) perIp.set(k, (v = { req: 0, fail: 0, sReq: 0, sFail: 0, bSucc: 0, eReq: 0, eFail: 0, aReq: 0, aFail: 0 }));
    // written out here rather than through common/record.ts classify: the yardstick stays independent
    const fail = r.outcome ? r.outcome === 'failure' : r.status >= 400;
    const succ = r.outcome ? r.outcome === 'success' : r.status >= 200 && r.status < 400;
    const authFail = r.outcome === 'success' ? false : r.status === 401 || r.status === 403 || (r.outcome === 'failure' && r.status < 400);
    if (inRange(r.ts, T - W, T)) {
      serviceRequests.set(r.service, (serviceRequests.get(r.service) ?? 0) + 1);
      v.req++;
      if (fail) v.fail++;
    }
    if (inRange(r.ts, T - S, T)) {
      v.sReq++;
      if (fail) v.sFail++;
    }
    if (inRange(r.ts, T - S - B, T - S) && succ) v.bSucc++;
    if (inRange(r.ts, T - E, T)) {
      v.eReq++;
      if (fail) v.eFail++;
    }
    if (inRange(r.ts, T - A, T)) {
      v.aReq++;
      if (authFail) v.aFail++;
    }
    if (r.credential && inRange(r.ts, T - C, T)) {
      const ck = `${r.service}|${r.credential}`;
      let set = perCred.get(ck);
      if (!set) perCred.set(ck, (set = new Set()));
      set.add(r.ipKey);
    }
  }
  const out: RefFindings = {
    error_ip: new Map(),
    credential_ips: new Map(),
    failure_spike: new Map(),
    flood_ip: new Map(),
    auth_bruteforce: new Map(),
  };
  for (const [k, v] of perIp) {
    const all = serviceRequests.get(k.slice(0, k.indexOf('|'))) ?? 0;
    if (v.req >= s.flood_min_requests && all > 0 && v.req / all >= s.flood_min_share) out.flood_ip.set(k, v.req);
    if (v.fail >= s.error_min && v.fail / v.req >= s.error_ratio) out.error_ip.set(k, v.fail);
    else if (v.eFail >= s.error_burst_min && v.eFail / v.eReq >= s.error_ratio) out.error_ip.set(k, v.eFail);
    if (v.aFail >= s.auth_fail_min && v.aFail / v.aReq >= s.auth_fail_ratio) out.auth_bruteforce.set(k, v.aFail);
    if (v.sFail >= s.spike_min_failures && v.bSucc >= s.spike_min_successes && v.sFail / v.sReq >= s.spike_failure_ratio)
      out.failure_spike.set(k, v.sFail);
  }
  for (const [k, set] of perCred) if (set.size >= s.credential_min_ips) out.credential_ips.set(k, set.size);
  return out;
}

/** Exact request (or failure) counts per IP key of one service in (T - W, T]. */
export function referenceCounts(
  records: readonly KeyedRecord[],
  T: number,
  service: string,
  by: 'requests' | 'errors',
  s: DetectionSettings = DEFAULT_SETTINGS,
): Map<string, number> {
  const W = s.window_seconds * 1000;
  const m = new Map<string, number>();
  for (const r of records) {
    if (r.service !== service || !inRange(r.ts, T - W, T)) continue;
    if (by === 'errors' && !(r.outcome ? r.outcome === 'failure' : r.status >= 400)) continue;
    m.set(r.ipKey, (m.get(r.ipKey) ?? 0) + 1);
  }
  return m;
}
