// Housekeeping of one service of the in-memory state at clock `now`: its
// totals pruned, every rule candidate stepped at the clock (out when its
// condition lapsed, its run ended when the rule stopped holding), and top
// candidates with nothing left in the window dropped.
import { IP_RULES } from '../../rules/registry';
import { stepIp } from '../../rules/step';
import { OUT, type Run } from '../../rules/types';
import { pruneHistogram, pruneSeries } from '../../window';
import { oldestKey, WINDOW } from '../layout';
import type { CredentialEntry, ServiceState, Slot, SlotCounts } from './service';

export function sweepService(svc: ServiceState, cx: SlotCounts, now: number, stepCredential: (e: CredentialEntry) => void): void {
  const s = svc.settings;
  const oldest = oldestKey(svc.layout, now);
  svc.merge(now);
  pruneSeries(svc.totals, oldest);
  pruneHistogram(svc.lastSeenHist, oldest);
  IP_RULES.forEach((rule, i) => {
    const runs = svc.ipRuns[i] as Map<Slot, Run>;
    for (const [e, before] of runs) {
      const after = stepIp(rule, before, cx.at(svc, e, now), s);
      if (after === OUT) runs.delete(e);
      else if (after !== before) runs.set(e, after);
    }
  });
  // the credential candidates whose time came (credential-due.ts), not all of them
  for (const e of svc.credentialDue.take(now, svc.credentialRuns)) stepCredential(e);
  // a candidate stays while its window holds anything: found at its newest entry, most often, not summed
  for (const e of svc.topRequests.set) if (!cx.at(svc, e, now).any(WINDOW.window, 1)) svc.topRequests.set.delete(e);
  for (const e of svc.topErrors.set) if (!cx.at(svc, e, now).any(WINDOW.window, 2)) svc.topErrors.set.delete(e);
}
