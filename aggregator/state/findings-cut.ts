// The cut of findings at SIEM_MAX_FINDINGS, shared by both backends. Each
// finding type keeps up to an equal share of the places (its strongest),
// and the places left go to the strongest of the rest: ranked by count
// alone, one type's counts (failures, requests: tens to thousands) drowned
// another's (credential_ips counts IPs: a few), so a client making
// SIEM_MAX_FINDINGS error_ip findings (1000 IPv6 /64s of one /48, 21
// failures each) emptied every other type from /v1/findings and the
// flagged gauges, a stolen credential's alert included.
import { compareFindings, FINDING_TYPES, type Finding } from '../rules/registry';
import { FirstK } from './first-k';

/** Places each type keeps before the strongest of the rest fill the others. */
export const typeShare = (max: number): number => Math.floor(max / FINDING_TYPES.length);

/**
 * `max` findings out of per-type lists, each in compareFindings order and
 * holding at least that type's first `max`: every type its first
 * typeShare(max), then the first of the rest; in compareFindings order.
 */
export function fairCut(byType: readonly (readonly Finding[])[], max: number): Finding[] {
  const share = typeShare(max);
  const kept: Finding[] = [];
  const rest = new FirstK<Finding>(max, compareFindings);
  for (const list of byType) {
    for (let i = 0; i < list.length && i < max; i++) {
      if (i < share) kept.push(list[i] as Finding);
      else rest.push(list[i] as Finding);
    }
  }
  const fill = rest.take().slice(0, Math.max(0, max - kept.length));
  return [...kept, ...fill].sort(compareFindings);
}

/** fairCut fed one finding at a time: per type its first `max` (a FirstK each), then the cut. */
export class FindingsCut {
  readonly #byType = new Map<string, FirstK<Finding>>();

  constructor(private readonly max: number) {}

  push(f: Finding): void {
    let cut = this.#byType.get(f.type);
    if (!cut) this.#byType.set(f.type, (cut = new FirstK<Finding>(this.max, compareFindings)));
    cut.push(f);
  }

  /** The findings kept, in compareFindings order (the cut is spent). */
  take(): Finding[] {
    return fairCut(
      [...this.#byType.values()].map((c) => c.take()),
      this.max,
    );
  }
}
