// A snapshot of the in-memory state taken in steps (aggregator/state-file.ts
// drives it and yields to the event loop between slices), so saving a
// million keys never stalls ingest for long.
//
// Phase 1 takes the key order without walking the LRU (recency.ts):
// that walk is unsafe across pauses while ingest reorders it. Instead the
// stable stores are walked: IP slots by number (IpSlots) and the credential
// entries (a Set, whose iteration stays valid while it changes). Each live, unexpired key goes into one of
// ORDER_BUCKETS by its newest record's ts, then a counting sort puts them
// least recently seen first (to within 1/ORDER_BUCKETS of the longest window):
// no O(n log n) sort in one go. Phase 2 serializes each key in that order as
// it is when reached.
//
// Consistency when ingest changes keys during the save:
// - each key is written as it is when its slice reaches it (keys may be
//   written at different clocks; each one is whole);
// - a key evicted or expired meanwhile is skipped; a key created meanwhile is
//   missing unless it took a freed IP slot not yet reached (written in that
//   slot's place); the next snapshot carries it either way;
// - the header's services and settings are the start's: IP keys of a
//   service created since are skipped; its clock is the end's
//   (state-file.ts), so no entry holds a record after it.
// Memory while it runs: about 10 bytes per key, plus a reference per
// credential key. stepLines writes each key's line straight into the save's
// buffer (json-lines.ts): no string, array or object per key.
import type { JsonLines } from '../../json-lines';
import { CREDENTIAL_RULES, IP_RULES } from '../../rules/registry';
import type { Run } from '../../rules/types';
import type { SnapshotAside, SnapshotEntry, SnapshotExport, SnapshotService } from '../state';
import type { IpSlots } from './ip-slots';
import { IPV4_SPAN, ipKeyOfLruKey } from './ipv4';
import { runsOf, type CredentialEntry, type ServiceState } from './service';

const utf8 = (text: string) => Buffer.from(text, 'utf8');
/** what JSON.stringify writes of an entry before its service's name, and of a run's key */
const IP_HEAD = utf8('["ip",');
const CREDENTIAL_HEAD = utf8('["credential",');
const runKeys = (rules: readonly { type: string }[]) => rules.map((r) => utf8(`${JSON.stringify(r.type)}:`));
const IP_RUN_KEYS = runKeys(IP_RULES);
const CREDENTIAL_RUN_KEYS = runKeys(CREDENTIAL_RULES);
const [COMMA, OPEN, CLOSE, BRACE, UNBRACE] = [0x2c, 0x5b, 0x5d, 0x7b, 0x7d];

/** resolution of the key order: the longest window in this many steps */
export const ORDER_BUCKETS = 1 << 16;

/** What an export reads of the memory state. */
export interface ExportSource {
  slots: IpSlots;
  services: Iterable<ServiceState>;
  /** generation -> service (undefined: a generation given back by an idle service) */
  gens: readonly (ServiceState | undefined)[];
  credentials: ReadonlySet<CredentialEntry>;
  /** settings kept aside, least recently set first */
  aside: SnapshotAside[];
}

export class MemoryExport implements SnapshotExport {
  readonly services: SnapshotService[] = [];
  readonly aside: SnapshotAside[];
  readonly #slots: IpSlots;
  readonly #gens: readonly (ServiceState | undefined)[];
  /** the services in the header, with the generation of their IP histories then */
  readonly #genAt = new Map<ServiceState, number>();
  /** their names as JSON */
  readonly #names = new Map<ServiceState, Buffer>();
  readonly #now: number;
  readonly #lo: number;
  readonly #span: number;
  // phase 1: walking the stores
  readonly #slotEnd: number;
  #nextSlot = 0;
  readonly #credIt: Iterator<CredentialEntry>;
  /** taken keys: a slot (>= 0) or credential ~index (< 0) */
  readonly #refs: Int32Array;
  readonly #bucket: Uint16Array;
  readonly #creds: CredentialEntry[] = [];
  #n = 0;
  // counting sort: keys per bucket, then where each bucket starts in the order
  readonly #counts = new Uint32Array(ORDER_BUCKETS);
  #starts: Uint32Array | undefined;
  #placed = 0;
  readonly #order: Uint32Array;
  // phase 2: writing
  #written = 0;

  constructor(src: ExportSource, now: number) {
    this.#slots = src.slots;
    this.#gens = src.gens;
    this.#now = now;
    this.aside = src.aside;
    let lo = now;
    for (const svc of src.services) {
      this.services.push({ name: svc.name, settings: { ...svc.settings } });
      this.#genAt.set(svc, svc.gen);
      this.#names.set(svc, utf8(JSON.stringify(svc.name)));
      lo = Math.min(lo, now - svc.layout.longestMs);
    }
    this.#lo = lo;
    this.#span = now - lo + 1;
    this.#slotEnd = src.slots.allocated;
    // credentials added after this are left out (the Set walk would reach them)
    const cap = this.#slotEnd + src.credentials.size;
    this.#credIt = src.credentials.values();
    this.#refs = new Int32Array(cap);
    this.#bucket = new Uint16Array(cap);
    this.#order = new Uint32Array(cap);
  }

  step(max: number, take: (e: SnapshotEntry) => void): boolean {
    if (!this.#starts) return this.#walk(max);
    if (this.#placed < this.#n) return this.#place(max);
    return this.#write(max, take);
  }

  stepLines(max: number, out: JsonLines): boolean {
    if (!this.#starts) return this.#walk(max);
    if (this.#placed < this.#n) return this.#place(max);
    const end = Math.min(this.#n, this.#written + max);
    for (let i = this.#written; i < end; i++) {
      const ref = this.#refs[this.#order[i] as number] as number;
      if (ref < 0) this.#credentialLine(this.#creds[~ref] as CredentialEntry, out);
      else this.#ipLine(ref, out);
    }
    this.#written = end;
    return end < this.#n;
  }

  #bucketOf(ts: number): number {
    const b = Math.floor(((ts - this.#lo) * ORDER_BUCKETS) / this.#span);
    return b < 0 ? 0 : b >= ORDER_BUCKETS ? ORDER_BUCKETS - 1 : b;
  }

  #take(ref: number, ts: number): void {
    const b = this.#bucketOf(ts);
    this.#refs[this.#n] = ref;
    this.#bucket[this.#n++] = b;
    this.#counts[b] = (this.#counts[b] as number) + 1;
  }

  #walk(max: number): true {
    const slots = this.#slots;
    for (let i = 0; i < max; i++) {
      if (this.#nextSlot < this.#slotEnd) {
        const s = this.#nextSlot++;
        if (!slots.live(s)) continue;
        const svc = this.#gens[slots.gen(s)];
        // history of older settings (or of a service that gave its place back meanwhile): counts nothing
        if (svc === undefined || this.#genAt.get(svc) !== slots.gen(s)) continue;
        const ts = slots.lastTs(s);
        if (ts > this.#now - svc.layout.longestMs) this.#take(s, ts);
        continue;
      }
      const next = this.#n < this.#refs.length ? this.#credIt.next() : { done: true as const, value: undefined };
      if (next.done) {
        this.#sortStarts();
        return true;
      }
      const e = next.value;
      if (this.#genAt.has(e.svc) && e.lastTs > this.#now - e.svc.layout.longestMs) {
        this.#take(~this.#creds.length, e.lastTs);
        this.#creds.push(e);
      }
    }
    return true;
  }

  /** Counting sort: where each bucket's keys start in the order. */
  #sortStarts(): void {
    const counts = this.#counts;
    let at = 0;
    for (let b = 0; b < ORDER_BUCKETS; b++) {
      const c = counts[b] as number;
      counts[b] = at;
      at += c;
    }
    this.#starts = counts;
  }

  #place(max: number): true {
    const starts = this.#starts as Uint32Array;
    const end = Math.min(this.#n, this.#placed + max);
    for (let i = this.#placed; i < end; i++) {
      const b = this.#bucket[i] as number;
      const at = starts[b] as number;
      this.#order[at] = i;
      starts[b] = at + 1;
    }
    this.#placed = end;
    return true;
  }

  #write(max: number, take: (e: SnapshotEntry) => void): boolean {
    const end = Math.min(this.#n, this.#written + max);
    for (let i = this.#written; i < end; i++) {
      const e = this.#entry(this.#refs[this.#order[i] as number] as number);
      if (e) take(e);
    }
    this.#written = end;
    return end < this.#n;
  }

  /** The key as it is now, or undefined when it is gone or no longer fits the header. */
  #entry(ref: number): SnapshotEntry | undefined {
    if (ref < 0) {
      const e = this.#creds[~ref] as CredentialEntry;
      if (e.gone) return undefined;
      return ['credential', e.svc.name, e.key, e.lastTs, [...e.ips], runsOf(e, e.svc.credentialRuns, CREDENTIAL_RULES)];
    }
    const slots = this.#slots;
    if (!slots.live(ref)) return undefined;
    const gen = slots.gen(ref);
    const svc = this.#gens[gen] as ServiceState;
    if (this.#genAt.get(svc) !== gen) return undefined;
    return ['ip', svc.name, ipKeyOfLruKey(slots.key(ref)), slots.lastTs(ref), slots.series(ref), runsOf(ref, svc.ipRuns, IP_RULES)];
  }

  // --- lines written straight into the buffer: the bytes of JSON.stringify(this.#entry(ref))

  /** the series of an inline history, reused */
  readonly #series: number[] = [];
  #out: JsonLines | undefined;
  #firstPair = true;
  readonly #pair = (ts: number, v4: number, ip: string): void => {
    const out = this.#out as JsonLines;
    if (!this.#firstPair) out.byte(COMMA);
    this.#firstPair = false;
    out.byte(OPEN);
    if (v4 >= 0) out.ipv4(v4);
    else out.str(ip);
    out.byte(COMMA);
    out.int(ts);
    out.byte(CLOSE);
  };

  #ipLine(ref: number, out: JsonLines): void {
    const slots = this.#slots;
    if (!slots.live(ref)) return;
    const gen = slots.gen(ref);
    const svc = this.#gens[gen] as ServiceState;
    if (this.#genAt.get(svc) !== gen) return;
    out.raw(IP_HEAD);
    out.raw(this.#names.get(svc) as Buffer);
    out.byte(COMMA);
    const key = slots.key(ref);
    if (typeof key === 'number') out.ipv4(key % IPV4_SPAN);
    else out.str(key, key.indexOf('|') + 1);
    out.byte(COMMA);
    out.int(slots.lastTs(ref));
    out.byte(COMMA);
    const series = slots.series(ref, this.#series);
    out.byte(OPEN);
    for (let i = 0; i < series.length; i++) {
      if (i > 0) out.byte(COMMA);
      out.int(series[i] as number);
    }
    out.byte(CLOSE);
    out.byte(COMMA);
    runsLine(ref, svc.ipRuns, IP_RUN_KEYS, out);
    out.byte(CLOSE);
    out.endLine();
  }

  #credentialLine(e: CredentialEntry, out: JsonLines): void {
    if (e.gone) return;
    out.raw(CREDENTIAL_HEAD);
    out.raw(this.#names.get(e.svc) as Buffer);
    out.byte(COMMA);
    out.str(e.key);
    out.byte(COMMA);
    out.int(e.lastTs);
    out.byte(COMMA);
    out.byte(OPEN);
    this.#out = out;
    this.#firstPair = true;
    e.ips.forEachAddress(this.#pair);
    out.byte(CLOSE);
    out.byte(COMMA);
    runsLine(e, e.svc.credentialRuns, CREDENTIAL_RUN_KEYS, out);
    out.byte(CLOSE);
    out.endLine();
  }
}

/** A key's run starts as runsOf (service.ts) gives them, written as JSON. */
function runsLine<E>(e: E, runs: readonly Map<E, Run>[], keys: readonly Buffer[], out: JsonLines): void {
  out.byte(BRACE);
  let first = true;
  for (let i = 0; i < keys.length; i++) {
    const run = runs[i]?.get(e);
    if (run === undefined || run < 0) continue;
    if (!first) out.byte(COMMA);
    first = false;
    out.raw(keys[i] as Buffer);
    out.int(run);
  }
  out.byte(UNBRACE);
}
