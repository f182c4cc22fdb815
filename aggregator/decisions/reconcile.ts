// From the findings of the moment to the changes of the decision set: one
// pure function, so that the in-memory and the Redis store decide alike.
//
// - an IP finding whose type is in the policy makes (or keeps) one decision
//   per IP key, lasting its duration past the last time it qualified;
// - allowlisted keys, keys with a manual decision and keys whose automatic
//   decision an operator deleted (until their finding stops and starts again)
//   get none;
// - over SIEM_MAX_DECISIONS the weakest automatic decisions go.
import { MAX_EVIDENCE, SCENARIO_PREFIX, type Evidence, type IpFinding, type StoredDecision } from './model';
import { targetOf, type Allowlist, type DecisionPolicy } from './policy';

/** an ongoing decision's end and evidence are refreshed at most this often */
export const REFRESH_MS = 60_000;

export type NewDecision = Omit<StoredDecision, 'id'>;

export interface Changes {
  add: NewDecision[];
  /** ids taken back */
  remove: number[];
  /** same id, new end or evidence (bouncers already hold it) */
  update: StoredDecision[];
  /** value -> newest `since` of its findings when an operator deleted it */
  suppress: Map<string, number>;
  unsuppress: string[];
}

export const noChanges = (): Changes => ({ add: [], remove: [], update: [], suppress: new Map(), unsuppress: [] });

export function isEmpty(c: Changes): boolean {
  return !c.add.length && !c.remove.length && !c.update.length && !c.suppress.size && !c.unsuppress.length;
}

export interface ReconcileInput {
  active: readonly StoredDecision[];
  suppressed: ReadonlyMap<string, number>;
  findings: readonly unknown[];
  policy: DecisionPolicy;
  allowlist: Allowlist;
  max: number;
  now: number;
}

interface Group {
  value: string;
  scope: StoredDecision['scope'];
  findings: IpFinding[];
  durationMs: number;
  strength: number;
  since: number;
}

/** Findings that name an IP key, whatever their type (rules are added over time). */
export function ipFindings(findings: readonly unknown[]): IpFinding[] {
  const out: IpFinding[] = [];
  for (const f of findings) {
    const o = f as Partial<IpFinding>;
    if (o && typeof o.type === 'string' && typeof o.ip === 'string' && typeof o.count === 'number' && typeof o.since === 'number')
      out.push(o as IpFinding);
  }
  return out;
}

const evidenceOf = (f: IpFinding): Evidence => {
  const e: Evidence = { type: f.type, service: f.service, count: f.count, since: f.since };
  if (typeof f.ratio === 'number') e.ratio = f.ratio;
  if (typeof f.successes === 'number') e.successes = f.successes;
  return e;
};

function groupFindings(input: ReconcileInput): Map<string, Group> {
  const groups = new Map<string, Group>();
  for (const f of ipFindings(input.findings)) {
    const durationMs = input.policy.get(f.type);
    if (durationMs === undefined) continue;
    const t = targetOf(f.ip);
    if (!t || input.allowlist.covers(t.value)) continue;
    let g = groups.get(t.value);
    if (!g) groups.set(t.value, (g = { value: t.value, scope: t.scope, findings: [], durationMs: 0, strength: 0, since: 0 }));
    g.findings.push(f);
    g.durationMs = Math.max(g.durationMs, durationMs);
    g.strength = Math.max(g.strength, f.count);
    g.since = Math.max(g.since, f.since);
  }
  for (const g of groups.values()) g.findings.sort((a, b) => b.count - a.count);
  return groups;
}

function withoutId(d: StoredDecision): NewDecision {
  const copy: Partial<StoredDecision> = { ...d };
  delete copy.id;
  return copy as NewDecision;
}

/** Compute the changes that bring `active` in line with the findings at `now`. */
export function reconcile(input: ReconcileInput): Changes {
  const { now } = input;
  const out = noChanges();
  const groups = groupFindings(input);

  // An operator's delete holds until the finding stops qualifying or starts a new run.
  for (const [value, since] of input.suppressed) {
    const g = groups.get(value);
    if (!g || g.since > since) out.unsuppress.push(value);
    else groups.delete(value);
  }

  const byValue = new Map<string, StoredDecision>();
  const kept: StoredDecision[] = [];
  for (const d of input.active) {
    if (d.until <= now) {
      out.remove.push(d.id);
      continue;
    }
    byValue.set(d.value, d);
    kept.push(d);
  }

  const candidates: NewDecision[] = [];
  for (const g of groups.values()) {
    const d = byValue.get(g.value);
    if (d?.origin === 'manual') continue;
    const until = now + g.durationMs;
    const top = g.findings[0] as IpFinding;
    const fields = {
      scenario: SCENARIO_PREFIX + top.type,
      durationMs: g.durationMs,
      strength: g.strength,
      since: g.since,
      evidence: g.findings.slice(0, MAX_EVIDENCE).map(evidenceOf),
    };
    if (!d) {
      candidates.push({ origin: 'kong-siem', scope: g.scope, value: g.value, until, created: now, issuedUntil: until, ...fields });
    } else if (until - d.issuedUntil >= g.durationMs / 2) {
      // Bouncers only learn an end when an id is issued: re-issue under a new
      // id (deleted + new in the same pull) so their timeouts move too.
      out.remove.push(d.id);
      kept.splice(kept.indexOf(d), 1);
      candidates.push({ ...withoutId(d), ...fields, until, issuedUntil: until });
    } else if (until - d.until >= Math.min(REFRESH_MS, g.durationMs / 10) || d.since !== fields.since) {
      // not every round: a write per qualifying key per sweep would load a shared store for nothing
      out.update.push({ ...d, ...fields, until: Math.max(until, d.until) });
    }
  }

  // SIEM_MAX_DECISIONS: manual decisions first, then automatic ones by strength.
  const room = input.max - kept.length;
  if (candidates.length <= room) {
    out.add = candidates;
    return out;
  }
  type Ranked = { strength: number; created: number; existing?: StoredDecision; fresh?: NewDecision };
  const updated = new Map(out.update.map((u) => [u.id, u]));
  const ranked: Ranked[] = [
    ...kept.map((d) => ({ strength: (updated.get(d.id) ?? d).strength, created: d.created, existing: d })),
    ...candidates.map((c) => ({ strength: c.strength, created: c.created, fresh: c })),
  ];
  // stronger first; at equal strength the older decision stays (no churn)
  ranked.sort((a, b) => b.strength - a.strength || a.created - b.created);
  const keep = ranked.slice(0, input.max);
  const drop = ranked.slice(input.max);
  out.add = keep.filter((r) => r.fresh).map((r) => r.fresh as NewDecision);
  for (const r of drop) {
    if (!r.existing) continue;
    out.remove.push(r.existing.id);
    updated.delete(r.existing.id);
  }
  out.update = [...updated.values()];
  return out;
}
