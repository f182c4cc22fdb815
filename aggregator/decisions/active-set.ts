// The active decisions as readers need them, built once per store version:
// sorted by id, indexed for live lookups (a map of single addresses, a list
// of parsed ranges), and pre-serialized in CrowdSec's shape up to the one
// field that changes with the clock (`duration`), so a 10,000-decision pull
// is string joins rather than 10,000 objects through JSON.stringify.
import ipaddr from 'ipaddr.js';
import { formatDuration } from './duration';
import { parseTarget } from './policy';
import type { StoredDecision, Tombstone } from './model';

type Net = [ipaddr.IPv4 | ipaddr.IPv6, number];

interface Entry {
  d: StoredDecision;
  /** `{"duration":"` prefix fields; the duration; then `tail` */
  head: string;
  tail: string;
  /** tail of the admin listing: + until, created, reason, evidence */
  adminTail: string;
}

const q = JSON.stringify;

export function wireHead(d: StoredDecision | Tombstone): string {
  return `{"id":${d.id},"origin":${q(d.origin)},"type":"ban","scope":${q(d.scope)},"value":${q(d.value)},"duration":"`;
}

export class ActiveSet {
  readonly entries: Entry[];
  private readonly singles = new Map<string, Entry[]>();
  private readonly ranges: { e: Entry; net: Net }[] = [];

  constructor(
    readonly version: number,
    active: readonly StoredDecision[],
  ) {
    this.entries = [...active]
      .sort((a, b) => a.id - b.id)
      .map((d) => {
        const tail = `","scenario":${q(d.scenario)}}`;
        const extra = `,"until":${d.until},"created":${d.created}${d.reason ? `,"reason":${q(d.reason)}` : ''},"evidence":${q(d.evidence)}}`;
        return { d, head: wireHead(d), tail, adminTail: tail.slice(0, -1) + extra };
      });
    for (const e of this.entries) {
      const net = parseTarget(e.d.value);
      if (!net) continue;
      const full = net[0].kind() === 'ipv4' ? 32 : 128;
      if (net[1] === full) {
        const list = this.singles.get(e.d.value);
        if (list) list.push(e);
        else this.singles.set(e.d.value, [e]);
      } else this.ranges.push({ e, net });
    }
  }

  /** Active decisions covering `t` (contains) or inside it (!contains), alive at `now`. */
  covering(t: Net, text: string | undefined, contains: boolean, now: number): Entry[] {
    const out: Entry[] = [];
    const full = t[0].kind() === 'ipv4' ? 32 : 128;
    const sameKind = (n: Net) => n[0].kind() === t[0].kind();
    if (contains) {
      if (t[1] === full && text !== undefined) out.push(...(this.singles.get(text) ?? []));
      for (const r of this.ranges) if (sameKind(r.net) && r.net[1] <= t[1] && t[0].match(r.net[0] as never, r.net[1])) out.push(r.e);
    } else {
      for (const list of this.singles.values()) {
        for (const e of list) {
          const n = parseTarget(e.d.value) as Net;
          if (sameKind(n) && n[0].match(t[0] as never, t[1])) out.push(e);
        }
      }
      for (const r of this.ranges) if (sameKind(r.net) && t[1] <= r.net[1] && r.net[0].match(t[0] as never, t[1])) out.push(r.e);
    }
    return out.filter((e) => e.d.until > now).sort((a, b) => a.d.id - b.d.id);
  }
}

/** A JSON array of entries in CrowdSec's shape, `duration` = time left at `now`. */
export function renderWire(entries: readonly Entry[], now: number, admin = false): string {
  const parts = new Array<string>(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as Entry;
    parts[i] = e.head + formatDuration(e.d.until - now) + (admin ? e.adminTail : e.tail);
  }
  return `[${parts.join(',')}]`;
}

export function renderTombstones(ts: readonly Tombstone[]): string {
  return `[${ts.map((t) => `${wireHead(t)}0s","scenario":${q(t.scenario)}}`).join(',')}]`;
}
