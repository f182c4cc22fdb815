// One decision encoded in CrowdSec's shape, up to the one field that changes
// with the clock (`duration`): the head before it and the tail after it. An
// entry goes with its decision object (the stores hand out the same object
// until the decision changes), so each decision is encoded once, and the
// parts only some readers need (the admin listing's fields, the parsed
// address for live lookups) are made at their first use.
import type ipaddr from 'ipaddr.js';
import { parseTarget } from './policy';
import type { StoredDecision, Tombstone } from './model';

export type Net = [ipaddr.IPv4 | ipaddr.IPv6, number];

export interface Entry {
  d: StoredDecision;
  /** d's id, end, scope, rank and origin, read once (compact, allocated together) */
  id: number;
  until: number;
  isRange: boolean;
  strength: number;
  manual: boolean;
  /** `{"id":…,"duration":"`: everything before the duration */
  head: string;
  /** `","scenario":…}` after it */
  tail: string;
  /** UTF-8 lengths of head and tail */
  bytes: [number, number];
  /** the admin listing's tail (adds until, created, reason, evidence) and its UTF-8 length, at first use */
  admin?: [string, number];
  /** the parsed value, at first use */
  target?: { net: Net | undefined };
}

const q = JSON.stringify;
/** printable ASCII without `"` and `\\`: its JSON text is itself in quotes */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
/** JSON text of a string; addresses, origins and scopes (all plain) without JSON.stringify */
const str = (s: string): string => (PLAIN.test(s) ? `"${s}"` : q(s));

export function wireHead(d: StoredDecision | Tombstone): string {
  return `{"id":${d.id},"origin":${str(d.origin)},"type":"ban","scope":${str(d.scope)},"value":${str(d.value)},"duration":"`;
}

/** scenario -> the bouncer's tail and its UTF-8 length (a few scenarios, shared by every decision) */
const tails = new Map<string, [string, number]>();
export function wireTail(scenario: string): [string, number] {
  let t = tails.get(scenario);
  if (!t) {
    const text = `","scenario":${q(scenario)}}`;
    t = [text, Buffer.byteLength(text)];
    // bounded: scenarios are finding types and "manual"; past 64 just not cached
    if (tails.size < 64) tails.set(scenario, t);
  }
  return t;
}

/** Decision object -> its entry. */
const encoded = new WeakMap<StoredDecision, Entry>();

export function entryOf(d: StoredDecision): Entry {
  const had = encoded.get(d);
  if (had) return had;
  const head = wireHead(d);
  const [tail, tailBytes] = wireTail(d.scenario);
  const e: Entry = {
    d,
    id: d.id,
    until: d.until,
    isRange: d.scope === 'Range',
    strength: d.strength,
    manual: d.origin === 'manual',
    head,
    tail,
    bytes: [Buffer.byteLength(head), tailBytes],
  };
  encoded.set(d, e);
  return e;
}

/** The tail of the bouncer's (`admin` false) or the admin listing's flavour, and its UTF-8 length. */
export function tailOf(e: Entry, admin: boolean): [string, number] {
  if (!admin) return [e.tail, e.bytes[1]];
  if (e.admin) return e.admin;
  const d = e.d;
  const t = `${e.tail.slice(0, -1)},"until":${d.until},"created":${d.created}${d.reason ? `,"reason":${q(d.reason)}` : ''},"evidence":${q(d.evidence)}}`;
  return (e.admin = [t, Buffer.byteLength(t)]);
}

export function targetOfEntry(e: Entry): { net: Net | undefined } {
  if (e.target) return e.target;
  return (e.target = { net: parseTarget(e.d.value) });
}
