// What replay's line scanner (cli/kong-log-scan.ts) keeps of a line: the
// fields recordFromKongLog reads, listed once in common/kong-log.ts's
// KONG_LOG_FIELDS (this file has no field table of its own), their values
// decoded from the line's bytes as JSON.parse decodes them, and the small log
// object built from them in the table's shape.
import { HEADERS, KONG_LOG_FIELDS, type KongLogFields } from '../common/kong-log';

type Obj = Record<string, unknown>;

// Leaves land in `vals` slots; objects are nodes, whose `kind` says whether
// the key was absent, held a non-object, or an object.
export const ABSENT = 0;
export const OTHER = 1;
export const OBJECT = 2;

export interface Node {
  names: Uint8Array[];
  strings: string[];
  /** open addressing by keySig: each name's signature, and its index (-1: empty); most keys fail at one probe */
  sigs: Int32Array;
  sigNames: Int16Array;
  /** per name: its leaf slot (>= 0), or -1 - its child node */
  target: number[];
  /** what to clear when the key repeats (JSON.parse keeps the last value only) */
  slots: number[];
  children: number[];
  /** request headers: keep the keys whose toLowerCase() is one of these */
  lower: string[];
  /** the same as bytes; empty for a non-ASCII name, which no ASCII key can match */
  lowerBytes: Uint8Array[];
  /** this node is the request headers */
  headers: boolean;
}

export const SIG_SLOTS = 32;

/** A key's signature, bytes [from, to) of a non-empty key: its length, first, middle and last bytes (a match is then checked byte for byte). */
export function keySig(b: Uint8Array, from: number, to: number): number {
  const len = to - from;
  return (len & 255) | ((b[from] as number) << 8) | ((b[from + (len >> 1)] as number) << 16) | ((b[to - 1] as number) << 24);
}

/** The first slot to probe for signature `sig`. */
export const sigSlot = (sig: number): number => Math.imul(sig ^ (sig >>> 15), 0x9e3779b1) >>> 27;

const bytesOf = (n: string) => new Uint8Array(Buffer.from(n, 'latin1'));

function newNode(headers: boolean, lower: string[]): Node {
  const n: Node = {
    names: [],
    strings: [],
    sigs: new Int32Array(SIG_SLOTS),
    sigNames: new Int16Array(SIG_SLOTS).fill(-1),
    target: [],
    slots: [],
    children: [],
    lower,
    lowerBytes: [],
    headers,
  };
  for (const l of lower) n.lowerBytes.push(/^[\x00-\x7f]*$/.test(l) ? bytesOf(l) : new Uint8Array(0));
  return n;
}

/** The nodes of KONG_LOG_FIELDS, the top object first; `lower` are the header names kept. */
export function kongLogNodes(lower: string[]): { nodes: Node[]; slots: number } {
  const nodes: Node[] = [];
  let slots = 0;
  const add = (fields: KongLogFields): number => {
    const at = nodes.length;
    const n = newNode(false, []);
    nodes.push(n);
    for (const [name, t] of Object.entries(fields)) {
      // keys are matched byte for byte first: a name must be what an unescaped ASCII key spells
      if (!/^[\x20-\x7e]+$/.test(name) || /["\\]/.test(name) || name === '__proto__')
        throw new Error(`KONG_LOG_FIELDS: ${JSON.stringify(name)} is no plain ASCII name`);
      n.strings.push(name);
      n.names.push(bytesOf(name));
      if (t === true) {
        n.target.push(slots);
        n.slots.push(slots++);
      } else {
        const child = t === HEADERS ? nodes.push(newNode(true, lower)) - 1 : add(t);
        n.target.push(-1 - child);
        n.children.push(child);
      }
    }
    if (n.names.length > SIG_SLOTS / 2) throw new Error(`KONG_LOG_FIELDS: over ${SIG_SLOTS / 2} names in one object`);
    for (let f = 0; f < n.names.length; f++) {
      const name = n.names[f] as Uint8Array;
      const sig = keySig(name, 0, name.length);
      let slot = sigSlot(sig);
      while ((n.sigNames[slot] as number) >= 0) slot = (slot + 1) & (SIG_SLOTS - 1);
      n.sigs[slot] = sig;
      n.sigNames[slot] = f;
    }
    return at;
  };
  add(KONG_LOG_FIELDS);
  return { nodes, slots };
}

// What the line being scanned holds so far (sized by the table, which every scanner shares).
const SHAPE = kongLogNodes([]);
export const vals: unknown[] = new Array<unknown>(SHAPE.slots).fill(undefined);
export const kind = new Uint8Array(SHAPE.nodes.length);
export const headerKeys: string[] = [];
export const headerVals: unknown[] = [];

export function clearKept(): void {
  // loops, not fill(): a builtin call each costs more than these few stores
  for (let k = 0; k < vals.length; k++) vals[k] = undefined;
  for (let k = 0; k < kind.length; k++) kind[k] = ABSENT;
  headerKeys.length = 0;
  headerVals.length = 0;
}

/** Forget what a repeated key held before (and all below it). */
export function reset(nodes: readonly Node[], n: number): void {
  const nd = nodes[n] as Node;
  for (const s of nd.slots) vals[s] = undefined;
  for (const c of nd.children) {
    kind[c] = ABSENT;
    reset(nodes, c);
  }
  if (nd.headers) {
    headerKeys.length = 0;
    headerVals.length = 0;
  }
}

/** Node `n` as the object recordFromKongLog reads: undefined for an absent key, null for a non-object (its obj() treats both alike). */
export function build(nodes: readonly Node[], n: number): unknown {
  if (kind[n] !== OBJECT && n !== 0) return kind[n] === OTHER ? null : undefined;
  const b = builderOf(nodes);
  const f = b[n];
  return f ? f(vals, kind, b) : buildHeaders();
}

function buildHeaders(): Obj {
  const o: Obj = {};
  for (let k = 0; k < headerKeys.length; k++) o[headerKeys[k] as string] = headerVals[k];
  return o;
}

type Builder = (v: unknown[], k: Uint8Array, b: readonly (Builder | undefined)[]) => Obj;
const builders = new WeakMap<readonly Node[], (Builder | undefined)[]>();

/**
 * Per node, a function returning its object as one literal with the table's
 * names in order (undefined for the headers node, built key by key): V8
 * makes a literal of constant keys in one step with one hidden class, where
 * `o[name] = v` per key costs a keyed store each (~6% of a line's CPU). Made
 * from the table, whose names kongLogNodes has checked are plain ASCII.
 */
function builderOf(nodes: readonly Node[]): readonly (Builder | undefined)[] {
  let b = builders.get(nodes);
  if (b) return b;
  b = nodes.map((nd) => {
    if (nd.headers) return undefined;
    const props = nd.strings.map((name, f) => {
      const t = nd.target[f] as number;
      const c = -1 - t;
      const value =
        t >= 0
          ? `v[${t}]`
          : nodes[c]?.headers
            ? `k[${c}] === ${OBJECT} ? h() : k[${c}] === ${OTHER} ? null : undefined`
            : `k[${c}] === ${OBJECT} ? b[${c}](v, k, b) : k[${c}] === ${OTHER} ? null : undefined`;
      return `${JSON.stringify(name)}: ${value}`;
    });
    return new Function('h', `return (v, k, b) => ({ ${props.join(', ')} });`)(buildHeaders) as Builder;
  });
  builders.set(nodes, b);
  return b;
}

// Strings kept per line are mostly the same few (service, route, host,
// method) or repeat (IPs): a byte hash table hands back the string already
// made, cheaper than making it again. A slot holds the last string hashed to it.
const INTERN_SLOTS = 8192;
const INTERN_MAX_BYTES = 64;
/** slot i's bytes at i * INTERN_MAX_BYTES, its length in internLength[i] (0: empty) */
const internPool = new Uint8Array(INTERN_SLOTS * INTERN_MAX_BYTES);
const internLength = new Uint8Array(INTERN_SLOTS);
const internStrings: string[] = new Array<string>(INTERN_SLOTS).fill('');

/** The string of the ASCII bytes [from, to) of `src` (`b`: its bytes as a plain Uint8Array), no backslash among them. */
export function ascii(src: Buffer, b: Uint8Array, from: number, to: number): string {
  const h = hash(b, from, to);
  return interned(b, from, to, h) ?? intern(src.toString('latin1', from, to), b, from, to, h);
}

/**
 * The string held for bytes [from, to) (hash `h`), or undefined. The table
 * holds only plain ASCII strings without a backslash, so equal bytes are
 * such a string too: a hit needs no other look at them.
 */
function interned(b: Uint8Array, from: number, to: number, h: number): string | undefined {
  const len = to - from;
  if (len > INTERN_MAX_BYTES || len === 0) return undefined;
  const slot = h & (INTERN_SLOTS - 1);
  if (internLength[slot] !== len) return undefined;
  const at = slot * INTERN_MAX_BYTES;
  const pool = internPool;
  for (let k = 0; k < len; k++) if (pool[at + k] !== b[from + k]) return undefined;
  return internStrings[slot];
}

/** `str`, the plain ASCII bytes [from, to) (hash `h`), remembered in their slot. */
function intern(str: string, b: Uint8Array, from: number, to: number, h: number): string {
  const len = to - from;
  if (len > INTERN_MAX_BYTES || len === 0) return str;
  const slot = h & (INTERN_SLOTS - 1);
  internPool.set(b.subarray(from, to), slot * INTERN_MAX_BYTES);
  internLength[slot] = len;
  internStrings[slot] = str;
  return str;
}

/** A slot hash of bytes [from, to): their length and at most their first and last 8 bytes (the comparison checks the rest). */
function hash(b: Uint8Array, from: number, to: number): number {
  let h = to - from;
  if (to - from <= 16) for (let k = from; k < to; k++) h = (Math.imul(h, 31) + (b[k] as number)) | 0;
  else {
    for (let k = from; k < from + 8; k++) h = (Math.imul(h, 31) + (b[k] as number)) | 0;
    for (let k = to - 8; k < to; k++) h = (Math.imul(h, 31) + (b[k] as number)) | 0;
  }
  return h;
}

/** The value JSON.parse gives for the (already checked) value [from, to) of `src`. */
export function decode(src: Buffer, b: Uint8Array, from: number, to: number): unknown {
  const c = b[from];
  if (c === 34) {
    // most strings kept are ones seen before: one comparison with it
    const f = from + 1;
    const t = to - 1;
    const h = hash(b, f, t);
    const seen = interned(b, f, t, h);
    if (seen !== undefined) return seen;
    // else plain ASCII, or a backslash, or other bytes
    let odd = 0;
    for (let k = f; k < t; k++) {
      const x = b[k] as number;
      odd |= x === 92 ? 1 : x >= 128 ? 2 : 0;
    }
    if (odd === 0) return intern(src.toString('latin1', f, t), b, f, t, h);
    return (odd & 1) === 1 ? (JSON.parse(src.toString('utf8', from, to)) as unknown) : src.toString('utf8', f, t);
  }
  if (c === 116) return true;
  if (c === 102) return false;
  if (c === 110) return null;
  if (c === 123 || c === 91) return JSON.parse(src.toString('utf8', from, to)) as unknown;
  // an integer of up to 15 digits is exact in a double: no string needed
  if (to - from <= 15 && c !== 45) {
    let n = 0;
    for (let k = from; k < to; k++) {
      const d = (b[k] as number) - 48;
      if (d < 0 || d > 9) return Number(src.toString('latin1', from, to));
      n = n * 10 + d;
    }
    return n;
  }
  return Number(src.toString('latin1', from, to));
}
