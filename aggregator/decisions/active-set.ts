// The active decisions as readers need them, built once per store version:
// sorted by id, indexed for live lookups (a map of single addresses, a list
// of parsed ranges), and pre-encoded in CrowdSec's shape up to the one field
// that changes with the clock (`duration`). An answer is then byte copies
// into one buffer with the durations written between them: a 10,000-decision
// pull builds no object and no string per decision.
//
// A new version is built from the previous one and the store's delta (the
// ids changed since): kept entries are taken over with their columns, and
// the encoded bytes of a kept entry are copied from the previous version's
// buffer (runs of neighbours in one copy), so a change of k decisions costs
// encoding k entries plus memory copies, not re-encoding 10,000.
import { MAX_DURATION_BYTES, formatDuration, writeDuration } from './duration';
import { networkBytes } from './policy';
import { entryOf, tailOf, targetOfEntry, wireHead, wireTail, type Entry, type Net } from './entry';
import { buildTemplate, copyTemplate, type Source, type Template } from './template';
import type { StoredDecision, Tombstone } from './model';
import type { Delta } from './repo';

type Flavour = 'wire' | 'admin';
const FLAVOURS: readonly Flavour[] = ['wire', 'admin'];

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

const byId = (a: Entry, b: Entry) => a.id - b.id;

/** entries sorted by id, each with its index in `prev` when it is the same entry there (-1 otherwise) */
interface Layout {
  entries: Entry[];
  from: Int32Array;
}

export class ActiveSet {
  readonly entries: readonly Entry[];
  readonly epoch: string;
  /** id, end and scope of entry i, as columns: a pick reads no object */
  private readonly ids: Float64Array;
  private readonly until: Float64Array;
  private readonly isRange: Uint8Array;
  /** rank under SIEM_MAX_DECISIONS and origin (1 = manual) of entry i */
  private readonly strength: Float64Array;
  private readonly manual: Uint8Array;
  /** value of entry i: a scan of this column reads no decision object (those are scattered in the heap) */
  private readonly values: string[];
  /** single address -> entry index (indices when several); ranges' entry indices (built at the first lookup) */
  private index?: { singles: Map<string, number | number[]>; ranges: number[] };
  /** ranges by family and prefix length, then network text (built at the first range lookup) */
  private rangeIndex?: Map<string, Map<string, number[]>>;
  private readonly templates: { wire?: Template; admin?: Template } = {};
  /** an older set's templates this one's are copied from when first needed */
  private readonly sources: { wire?: Source; admin?: Source } = {};

  /** `active` in any order; `prev`, a set of an older version whose work is reused. */
  constructor(
    readonly version: number,
    active: readonly StoredDecision[],
    opts: { epoch?: string; prev?: ActiveSet; layout?: Layout } = {},
  ) {
    this.epoch = opts.epoch ?? '';
    const prev = opts.prev;
    const { entries, from } = opts.layout ?? layoutOf(active, prev);
    const n = entries.length;
    this.ids = new Float64Array(n);
    this.until = new Float64Array(n);
    this.isRange = new Uint8Array(n);
    this.strength = new Float64Array(n);
    this.manual = new Uint8Array(n);
    this.values = new Array<string>(n);
    for (let i = 0; i < n; i++) {
      const j = from[i] as number;
      if (prev && j >= 0) {
        this.ids[i] = prev.ids[j] as number;
        this.until[i] = prev.until[j] as number;
        this.isRange[i] = prev.isRange[j] as number;
        this.strength[i] = prev.strength[j] as number;
        this.manual[i] = prev.manual[j] as number;
        this.values[i] = prev.values[j] as string;
      } else {
        const e = entries[i] as Entry;
        this.ids[i] = e.id;
        this.until[i] = e.until;
        this.isRange[i] = e.isRange ? 1 : 0;
        this.strength[i] = e.strength;
        this.manual[i] = e.manual ? 1 : 0;
        this.values[i] = e.d.value;
      }
    }
    this.entries = entries;
    if (prev) {
      for (const f of FLAVOURS) {
        const t = prev.templates[f];
        const s = prev.sources[f];
        if (t) this.sources[f] = { t, from };
        else if (s) this.sources[f] = { t: s.t, from: from.map((j) => (j < 0 ? -1 : (s.from[j] as number))) };
      }
    }
  }

  /** The set at the delta's version: this one with the delta's changes (or its whole set) applied. */
  next(d: Delta): ActiveSet {
    if (d.full) return new ActiveSet(d.version, d.full, { epoch: d.epoch, prev: this });
    const gone = new Set<number>(d.removed);
    const fresh = d.upserts.map(entryOf).sort(byId);
    for (const e of fresh) gone.add(e.id);
    const n = this.ids.length;
    const entries = new Array<Entry>(n + fresh.length);
    const from = new Int32Array(n + fresh.length);
    let m = 0;
    let k = 0;
    for (let j = 0; j < n; j++) {
      const id = this.ids[j] as number;
      while (k < fresh.length && (fresh[k] as Entry).id < id) {
        entries[m] = fresh[k++] as Entry;
        from[m++] = -1;
      }
      if (gone.size > 0 && gone.has(id)) continue;
      entries[m] = this.entries[j] as Entry;
      from[m++] = j;
    }
    while (k < fresh.length) {
      entries[m] = fresh[k++] as Entry;
      from[m++] = -1;
    }
    entries.length = m;
    return new ActiveSet(d.version, [], { epoch: d.epoch, prev: this, layout: { entries, from: from.subarray(0, m) } });
  }

  /** the decisions, in id order */
  decisions(): StoredDecision[] {
    return this.entries.map((e) => e.d);
  }

  /** index of the entry with this id, -1 when none */
  indexOf(id: number): number {
    let lo = 0;
    let hi = this.ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.ids[mid] as number) < id) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.ids.length && this.ids[lo] === id ? lo : -1;
  }

  /** how many decisions are alive at `now` */
  alive(now: number): number {
    let n = 0;
    for (let i = 0; i < this.until.length; i++) if ((this.until[i] as number) > now) n++;
    return n;
  }

  /** index of the decision alive at `now` on `value` (a single address unless `isRange`), -1 when none */
  indexOfValue(value: string, isRange: boolean, now: number): number {
    const want = isRange ? 1 : 0;
    if (this.index && !isRange) return listOf(this.index.singles.get(value)).find((i) => (this.until[i] as number) > now) ?? -1;
    // one pass over the columns: an operator's call on a version no lookup has read yet does
    // not build the lookup index for it (a Map of every address, ~2.5 ms at 10k; this, ~0.2 ms)
    const { values, isRange: r, until } = this;
    for (let i = 0; i < values.length; i++) if (values[i] === value && r[i] === want && (until[i] as number) > now) return i;
    return -1;
  }

  /** index of the weakest automatic decision alive at `now` other than entry `except` (the first in id order on a tie), -1 when none */
  weakestAutomatic(now: number, except: number): number {
    let best = -1;
    for (let i = 0; i < this.ids.length; i++) {
      if (this.manual[i] || i === except || (this.until[i] as number) <= now) continue;
      if (best < 0 || (this.strength[i] as number) < (this.strength[best] as number)) best = i;
    }
    return best;
  }

  private template(f: Flavour): Template {
    const have = this.templates[f];
    if (have) return have;
    const src = this.sources[f];
    const t = src ? copyTemplate(this.entries, f === 'admin', src) : buildTemplate(this.entries, f === 'admin');
    delete this.sources[f];
    return (this.templates[f] = t);
  }

  private lookupIndex(): { singles: Map<string, number | number[]>; ranges: number[] } {
    if (this.index) return this.index;
    // by scope and value text alone: an address is parsed only when a range or a reverse lookup needs it
    const singles = new Map<string, number | number[]>();
    const ranges: number[] = [];
    const { values, isRange } = this;
    for (let i = 0; i < values.length; i++) {
      if (isRange[i]) {
        ranges.push(i);
        continue;
      }
      const v = values[i] as string;
      const had = singles.get(v);
      if (had === undefined) singles.set(v, i);
      else if (typeof had === 'number') singles.set(v, [had, i]);
      else had.push(i);
    }
    return (this.index = { singles, ranges });
  }

  private rangesByLength(ranges: readonly number[], netOf: (i: number) => Net | undefined): Map<string, Map<string, number[]>> {
    if (this.rangeIndex) return this.rangeIndex;
    const groups = new Map<string, Map<string, number[]>>();
    for (const i of ranges) {
      const n = netOf(i);
      if (n === undefined) continue; // an unparsable value (none are stored) matches nothing
      const group = `${n[0].kind()}/${n[1]}`;
      let byNet = groups.get(group);
      if (!byNet) groups.set(group, (byNet = new Map()));
      const key = networkText(n[0], n[1]);
      const list = byNet.get(key);
      if (list) list.push(i);
      else byNet.set(key, [i]);
    }
    return (this.rangeIndex = groups);
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
    // an unparsable value (none are stored) matches nothing
    const sameKind = (n: Net | undefined): n is Net => n !== undefined && n[0].kind() === t[0].kind();
    const netOf = (i: number) => targetOfEntry(this.entries[i] as Entry).net;
    const { singles, ranges } = this.lookupIndex();
    if (contains) {
      if (t[1] === full && text !== undefined) out.push(...listOf(singles.get(text)));
      // one map lookup per prefix length in use (a few), not a comparison per range:
      // a live-mode bouncer asks for every client address, and an attack can leave
      // SIEM_MAX_DECISIONS /64 bans (0.5 ms a lookup at 10,000 when scanned)
      const kind = t[0].kind();
      for (const [group, byNet] of this.rangesByLength(ranges, netOf)) {
        const slash = group.indexOf('/');
        const len = Number(group.slice(slash + 1));
        if (group.slice(0, slash) === kind && len <= t[1]) out.push(...(byNet.get(networkText(t[0], len)) ?? []));
      }
    } else {
      for (const list of singles.values()) {
        for (const i of listOf(list)) {
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
        return e.head + formatDuration((this.until[i] as number) - now) + tailOf(e, admin)[0];
      });
      return Buffer.from(`${opts.prefix ?? ''}[${parts.join(',')}]${opts.suffix ?? ''}`, 'utf8');
    }
    const t = this.template(flavour);
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

/** Entries of `active` (encoded once per decision object) in id order, and where each sat in `prev`. */
function layoutOf(active: readonly StoredDecision[], prev: ActiveSet | undefined): Layout {
  const n = active.length;
  let entries = new Array<Entry>(n);
  let sorted = true;
  for (let i = 0; i < n; i++) {
    const d = active[i] as StoredDecision;
    const e = entryOf(d);
    entries[i] = e;
    if (i > 0 && (entries[i - 1] as Entry).id > e.id) sorted = false;
  }
  if (!sorted) entries = entries.sort(byId);
  const from = new Int32Array(n).fill(-1);
  if (prev) {
    const old = prev.entries;
    let j = 0;
    for (let i = 0; i < n; i++) {
      const e = entries[i] as Entry;
      while (j < old.length && (old[j] as Entry).id < e.id) j++;
      if (old[j] === e) from[i] = j;
    }
  }
  return { entries, from };
}

const listOf = (x: number | number[] | undefined): number[] => (x === undefined ? [] : typeof x === 'number' ? [x] : x);

export function renderTombstones(ts: readonly Tombstone[]): string {
  return `[${ts.map((t) => `${wireHead(t)}0s${wireTail(t.scenario)[0]}`).join(',')}]`;
}

/** The text of `a`'s network at prefix `len` (host bits cleared): equal for every address of that network. */
function networkText(a: Net[0], len: number): string {
  return networkBytes(a, len).join('.');
}
