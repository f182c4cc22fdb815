// The active decisions as readers need them, built once per store version:
// sorted by id, indexed for live lookups (a map of single addresses, a list
// of parsed ranges), and pre-encoded in CrowdSec's shape up to the one field
// that changes with the clock (`duration`). An answer is then byte copies
// into one buffer with the durations written between them: a 10,000-decision
// pull builds no object and no string per decision. A decision unchanged
// since the previous version keeps its encoded entry (the stores hand out
// the same object for it), so a new version costs its changes plus a pass
// over compact columns.
import ipaddr from 'ipaddr.js';
import { MAX_DURATION_BYTES, formatDuration, writeDuration } from './duration';
import { parseTarget } from './policy';
import type { StoredDecision, Tombstone } from './model';

type Net = [ipaddr.IPv4 | ipaddr.IPv6, number];

interface Entry {
  d: StoredDecision;
  /** d's id, end and scope, read once: later versions read them here (compact, allocated together) */
  id: number;
  until: number;
  isRange: boolean;
  net: Net | undefined;
  /** a single address (indexed by its text), not a range */
  single: boolean;
  /** `{"id":…,"duration":"`: everything before the duration */
  head: string;
  /** `","scenario":…}` after it; the admin listing's adds until, created, reason, evidence */
  tail: string;
  adminTail: string;
  /** UTF-8 lengths of head, tail, adminTail */
  bytes: [number, number, number];
}

/** The encoded entries of one version, one flavour (bouncer or admin): `head tail,head tail,…head tail,` */
interface Template {
  bytes: Buffer;
  /** entry i's head is bytes[start[i], mid[i]), its tail bytes[mid[i], start[i + 1] - 1), then a comma */
  start: Int32Array;
  mid: Int32Array;
}

/** Which decisions an answer holds. */
export interface Pick {
  now: number;
  /** time left needed, ms (0: any left at all) */
  minLeft: number;
  /** scope filter (`scopes=`) */
  scope: (scope: string) => boolean;
  /** ids above this only (a bouncer's position) */
  after?: number;
  /** ids up to this only (the sequence number read with the view) */
  upTo?: number;
}

const q = JSON.stringify;

export function wireHead(d: StoredDecision | Tombstone): string {
  return `{"id":${d.id},"origin":${q(d.origin)},"type":"ban","scope":${q(d.scope)},"value":${q(d.value)},"duration":"`;
}

function encode(d: StoredDecision): Entry {
  const head = wireHead(d);
  const tail = `","scenario":${q(d.scenario)}}`;
  const extra = `,"until":${d.until},"created":${d.created}${d.reason ? `,"reason":${q(d.reason)}` : ''},"evidence":${q(d.evidence)}}`;
  const adminTail = tail.slice(0, -1) + extra;
  const net = parseTarget(d.value);
  const single = net !== undefined && net[1] === (net[0].kind() === 'ipv4' ? 32 : 128);
  const bytes: Entry['bytes'] = [Buffer.byteLength(head), Buffer.byteLength(tail), Buffer.byteLength(adminTail)];
  const e: Entry = { d, id: d.id, until: d.until, isRange: d.scope === 'Range', net, single, head, tail, adminTail, bytes };
  encoded.set(d, e);
  return e;
}

/**
 * Decision object -> its entry. The stores hand out the same object for a
 * decision until it changes, so a new version re-encodes only its changes;
 * an entry goes with its object.
 */
const encoded = new WeakMap<StoredDecision, Entry>();

function buildTemplate(entries: readonly Entry[], admin: boolean): Template {
  const n = entries.length;
  const start = new Int32Array(n + 1);
  const mid = new Int32Array(n);
  const parts = new Array<string>(2 * n);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const e = entries[i] as Entry;
    parts[2 * i] = e.head;
    parts[2 * i + 1] = `${admin ? e.adminTail : e.tail},`;
    start[i] = at;
    at += e.bytes[0];
    mid[i] = at;
    at += (admin ? e.bytes[2] : e.bytes[1]) + 1;
  }
  start[n] = at;
  return { bytes: Buffer.from(parts.join(''), 'utf8'), start, mid };
}

const byId = (a: Entry, b: Entry) => a.id - b.id;

export class ActiveSet {
  readonly entries: readonly Entry[];
  /** id, end and scope of entry i, as columns: a pick reads no object */
  private readonly ids: Float64Array;
  private readonly until: Float64Array;
  private readonly isRange: Uint8Array;
  /** single address -> entry indices; ranges' entry indices (built at the first lookup) */
  private index?: { singles: Map<string, number[]>; ranges: number[] };
  private readonly templates: { wire?: Template; admin?: Template } = {};

  constructor(
    readonly version: number,
    active: readonly StoredDecision[],
  ) {
    const n = active.length;
    let entries = new Array<Entry>(n);
    let sorted = true;
    for (let i = 0; i < n; i++) {
      const d = active[i] as StoredDecision;
      const e = encoded.get(d) ?? encode(d);
      entries[i] = e;
      if (i > 0 && (entries[i - 1] as Entry).id > e.id) sorted = false;
    }
    if (!sorted) entries = entries.sort(byId);
    this.ids = new Float64Array(n);
    this.until = new Float64Array(n);
    this.isRange = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const e = entries[i] as Entry;
      this.ids[i] = e.id;
      this.until[i] = e.until;
      this.isRange[i] = e.isRange ? 1 : 0;
    }
    this.entries = entries;
  }

  private lookupIndex(): { singles: Map<string, number[]>; ranges: number[] } {
    if (this.index) return this.index;
    const singles = new Map<string, number[]>();
    const ranges: number[] = [];
    this.entries.forEach((e, i) => {
      if (!e.net) return;
      if (!e.single) ranges.push(i);
      else {
        const at = singles.get(e.d.value);
        if (at) at.push(i);
        else singles.set(e.d.value, [i]);
      }
    });
    return (this.index = { singles, ranges });
  }

  /** Indices of the decisions an answer holds, in id order. */
  pick(p: Pick): number[] {
    const out: number[] = [];
    const wantIp = p.scope('Ip');
    const wantRange = p.scope('Range');
    const after = p.after ?? -1;
    const upTo = p.upTo ?? Number.POSITIVE_INFINITY;
    const { ids, until, isRange } = this;
    const { now, minLeft } = p;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number;
      const left = (until[i] as number) - now;
      if (id > after && id <= upTo && (minLeft > 0 ? left >= minLeft : left > 0) && (isRange[i] ? wantRange : wantIp)) out.push(i);
    }
    return out;
  }

  /** Indices of active decisions covering `t` (contains) or inside it (!contains), alive at `now`, in id order. */
  covering(t: Net, text: string | undefined, contains: boolean, now: number): number[] {
    const out: number[] = [];
    const full = t[0].kind() === 'ipv4' ? 32 : 128;
    const sameKind = (n: Net) => n[0].kind() === t[0].kind();
    const netOf = (i: number) => (this.entries[i] as Entry).net as Net;
    const { singles, ranges } = this.lookupIndex();
    if (contains) {
      if (t[1] === full && text !== undefined) out.push(...(singles.get(text) ?? []));
      for (const i of ranges) {
        const n = netOf(i);
        if (sameKind(n) && n[1] <= t[1] && t[0].match(n[0] as never, n[1])) out.push(i);
      }
    } else {
      for (const list of singles.values()) {
        for (const i of list) {
          const n = netOf(i);
          if (sameKind(n) && n[0].match(t[0] as never, t[1])) out.push(i);
        }
      }
      for (const i of ranges) {
        const n = netOf(i);
        if (sameKind(n) && t[1] <= n[1] && n[0].match(t[0] as never, t[1])) out.push(i);
      }
    }
    return out.filter((i) => (this.until[i] as number) > now).sort((a, b) => a - b);
  }

  /**
   * `prefix` + a JSON array of the entries at `indices` in CrowdSec's shape
   * (`duration` = time left at `now`; the admin listing's fields with
   * `admin`) + `suffix`, as UTF-8 bytes.
   */
  render(indices: readonly number[], now: number, opts: { admin?: boolean; prefix?: string; suffix?: string } = {}): Buffer {
    const admin = opts.admin === true;
    const flavour = admin ? 'admin' : 'wire';
    // a few decisions (an incremental pull, a lookup) are not worth encoding the whole set
    if (!this.templates[flavour] && indices.length * 4 < this.entries.length) {
      const parts = indices.map((i) => {
        const e = this.entries[i] as Entry;
        return e.head + formatDuration((this.until[i] as number) - now) + (admin ? e.adminTail : e.tail);
      });
      return Buffer.from(`${opts.prefix ?? ''}[${parts.join(',')}]${opts.suffix ?? ''}`, 'utf8');
    }
    const t = (this.templates[flavour] ??= buildTemplate(this.entries, admin));
    const pre = Buffer.from(`${opts.prefix ?? ''}[`);
    const suf = Buffer.from(`]${opts.suffix ?? ''}`);
    const { bytes, start, mid } = t;
    let size = pre.length + suf.length;
    for (const i of indices) size += (start[i + 1] as number) - (start[i] as number) + MAX_DURATION_BYTES;
    const out = Buffer.allocUnsafe(size);
    let p = pre.copy(out, 0);
    let prev = -1;
    for (const i of indices) {
      // a run of neighbours is one copy each: the previous tail, its comma and this head
      if (prev < 0) p += bytes.copy(out, p, start[i], mid[i]);
      else if (i === prev + 1) p += bytes.copy(out, p, mid[prev], mid[i]);
      else {
        p += bytes.copy(out, p, mid[prev], start[prev + 1]);
        p += bytes.copy(out, p, start[i], mid[i]);
      }
      p = writeDuration(out, p, (this.until[i] as number) - now);
      prev = i;
    }
    if (prev >= 0) p += bytes.copy(out, p, mid[prev], (start[prev + 1] as number) - 1);
    p += suf.copy(out, p);
    return out.subarray(0, p);
  }
}

export function renderTombstones(ts: readonly Tombstone[]): string {
  return `[${ts.map((t) => `${wireHead(t)}0s","scenario":${q(t.scenario)}}`).join(',')}]`;
}
