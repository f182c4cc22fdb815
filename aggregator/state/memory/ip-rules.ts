// The IP rules' steps over one slot of the in-memory state (the rules and
// their steps are the registry's, aggregator/rules): after a record, and
// when a snapshot restores the slot. A run is written only when it changes.
import type { RecordKind } from '../../../common/record';
import { IP_RULES } from '../../rules/registry';
import { stepIp } from '../../rules/step';
import { OUT, type Run } from '../../rules/types';
import type { SnapshotRuns } from '../state';
import type { ServiceState, Slot, SlotCounts } from './service';

/** Every IP rule over slot `e` (counts `cx`) after a record of kind `k` at `ts`; a rule the record cannot wake is skipped for a non-candidate. */
export function stepIpRules(svc: ServiceState, e: Slot, cx: SlotCounts, k: RecordKind, ts: number): void {
  const s = svc.settings;
  for (let i = 0; i < IP_RULES.length; i++) {
    const rule = IP_RULES[i] as (typeof IP_RULES)[number];
    const runs = svc.ipRuns[i] as Map<Slot, Run>;
    const before = runs.get(e);
    if (before === undefined && !rule.wakes(k)) continue;
    const after = stepIp(rule, before ?? OUT, cx, s, ts);
    if (after === OUT) {
      if (before !== undefined) runs.delete(e);
    } else if (after !== before) runs.set(e, after);
  }
}

/** Every IP rule over a restored slot at the clock, keeping the run starts `saved` (a snapshot's). */
export function restoreIpRules(svc: ServiceState, e: Slot, cx: SlotCounts, saved: SnapshotRuns): void {
  IP_RULES.forEach((rule, i) => {
    const after = stepIp(rule, saved[rule.type] ?? OUT, cx, svc.settings);
    if (after !== OUT) (svc.ipRuns[i] as Map<Slot, Run>).set(e, after);
  });
}
