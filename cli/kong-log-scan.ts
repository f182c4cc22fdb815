// Replay's fast path: one pass over the bytes of a log line that checks it is
// JSON (RFC 8259's grammar, as JSON.parse) and keeps only the fields
// recordFromKongLog reads (listed once, in common/kong-log.ts's
// KONG_LOG_FIELDS: this file has no field table of its own), so a 1.6 KB
// Kong log object does not become ~80 JS objects and strings per line. JSON.parse of every line alone was slower
// than the replay target. Anything this does not handle simply (a line that is
// not one JSON object, deep nesting) returns undefined and the caller takes
// the slow path, JSON.parse, which also words the error of a bad line.
//
// Equivalence with JSON.parse + recordFromKongLog, kept by construction:
// - every field recordFromKongLog reads is decoded as JSON.parse would decode
//   it (escaped strings and non-scalar values go through JSON.parse itself);
// - a field it reads as an object holds an object here exactly when it does
//   there (else null, which it treats like an array or a scalar);
// - a repeated key keeps its last value, and the header keys kept are all
//   those matching, in their order (headerValue's case-insensitive search);
// - strings are cut only at ASCII bytes (quotes), which UTF-8 decoding never
//   merges into a malformed sequence, so decoding a piece equals decoding the
//   line and taking that piece.

import { HEADERS, KONG_LOG_FIELDS, KONG_LOG_HEADERS, type KongLogFields } from '../common/kong-log';
import { BACKSLASH, CONTROL, ESCAPES, FALSE, HEX, IN_STRING, NULL, PLAIN, QUOTE, TRUE } from './json-bytes';

type Obj = Record<string, unknown>;

// The kept fields, from the mapping's own table (KONG_LOG_FIELDS): leaves
// land in `vals` slots; objects are nodes, whose `kind` says whether the key
// was absent, held a non-object, or an object. build() makes the small log
// object from them, in the table's shape.
const ABSENT = 0;
const OTHER = 1;
const OBJECT = 2;

interface Node {
  names: Uint8Array[];
  strings: string[];
  /** by key length: the indexes of the names that long (most keys fail here) */
  byLength: number[][];
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

const bytesOf = (n: string) => new Uint8Array(Buffer.from(n, 'latin1'));

function newNode(headers: boolean, lower: string[]): Node {
  const n: Node = { names: [], strings: [], byLength: [], target: [], slots: [], children: [], lower, lowerBytes: [], headers };
  for (const l of lower) n.lowerBytes.push(/^[\x00-\x7f]*$/.test(l) ? bytesOf(l) : new Uint8Array(0));
  return n;
}

/** The nodes of KONG_LOG_FIELDS, the top object first; `lower` are the header names kept. */
function kongLogNodes(lower: string[]): { nodes: Node[]; slots: number } {
  const nodes: Node[] = [];
  let slots = 0;
  const add = (fields: KongLogFields): number => {
    const at = nodes.length;
    const n = newNode(false, []);
    nodes.push(n);
    for (const [name, t] of Object.entries(fields)) {
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
    for (let f = 0; f < n.names.length; f++) {
      const len = (n.names[f] as Uint8Array).length;
      while (n.byLength.length <= len) n.byLength.push([]);
      (n.byLength[len] as number[]).push(f);
    }
    return at;
  };
  add(KONG_LOG_FIELDS);
  return { nodes, slots };
}

// What the line being scanned holds so far (sized by the table, which every scanner shares).
const SHAPE = kongLogNodes([]);
const vals: unknown[] = new Array<unknown>(SHAPE.slots).fill(undefined);
const kind = new Uint8Array(SHAPE.nodes.length);
const headerKeys: string[] = [];
const headerVals: unknown[] = [];
let nodes: Node[] = [];

/** Forget what a repeated key held before (and all below it). */
function reset(n: number): void {
  const nd = nodes[n] as Node;
  for (const s of nd.slots) vals[s] = undefined;
  for (const c of nd.children) {
    kind[c] = ABSENT;
    reset(c);
  }
  if (nd.headers) {
    headerKeys.length = 0;
    headerVals.length = 0;
  }
}

function headers(): Obj {
  const h: Obj = {};
  for (let k = 0; k < headerKeys.length; k++) h[headerKeys[k] as string] = headerVals[k];
  return h;
}

/** Node `n` as the object recordFromKongLog reads: undefined for an absent key, null for a non-object (its obj() treats both alike). */
function build(n: number): unknown {
  if (kind[n] !== OBJECT && n !== 0) return kind[n] === OTHER ? null : undefined;
  const nd = nodes[n] as Node;
  if (nd.headers) return headers();
  const o: Obj = {};
  for (let f = 0; f < nd.strings.length; f++) {
    const t = nd.target[f] as number;
    o[nd.strings[f] as string] = t >= 0 ? vals[t] : build(-1 - t);
  }
  return o;
}

/** Nesting beyond this goes to JSON.parse (no recursion limits here to reason about). */
const MAX_DEPTH = 64;
const FAIL = -1;

// The line being scanned: module state, so the hot functions take only
// positions. `b` is a plain Uint8Array over the bytes of `src`: V8 indexes it
// about twice as fast as the Buffer subclass.
let src: Buffer = Buffer.alloc(0);
let b: Uint8Array = new Uint8Array(0);
let end = 0;
/** flags of the last string scanned */
let strEscaped = false;
let strHigh = false;

function ws(i: number): number {
  const buf = b;
  const n = end;
  // mostly no whitespace at all: one test
  while (i < n) {
    const c = buf[i] as number;
    if (c > 32 || (c !== 32 && c !== 10 && c !== 13 && c !== 9)) return i;
    i++;
  }
  return i;
}

/** `i` at an opening quote: the position after the closing one, or FAIL. */
function str(i: number): number {
  const buf = b;
  const n = end;
  let escaped = false;
  let high = false;
  for (let j = i + 1; j < n; j++) {
    const k = IN_STRING[buf[j] as number];
    if (k === PLAIN) continue;
    if (k === QUOTE) {
      strEscaped = escaped;
      strHigh = high;
      return j + 1;
    }
    if (k === BACKSLASH) {
      escaped = true;
      const e = buf[++j] as number;
      if (e === 117) {
        if (
          j + 4 >= n ||
          HEX[buf[j + 1] as number] !== 1 ||
          HEX[buf[j + 2] as number] !== 1 ||
          HEX[buf[j + 3] as number] !== 1 ||
          HEX[buf[j + 4] as number] !== 1
        )
          return FAIL;
        j += 4;
      } else if (ESCAPES[e] !== 1) return FAIL;
    } else if (k === CONTROL) return FAIL;
    else high = true;
  }
  return FAIL;
}

function digits(i: number): number {
  const buf = b;
  const n = end;
  const from = i;
  while (i < n) {
    const c = buf[i] as number;
    if (c < 48 || c > 57) break;
    i++;
  }
  return i > from ? i : FAIL;
}

/** `i` at '-' or a digit: the position after the number, or FAIL. */
function num(i: number): number {
  if (b[i] === 45) i++;
  if (b[i] === 48) i++;
  else if ((i = digits(i)) === FAIL) return FAIL;
  if (b[i] === 46 && (i = digits(i + 1)) === FAIL) return FAIL;
  if (b[i] === 101 || b[i] === 69) {
    i++;
    if (b[i] === 43 || b[i] === 45) i++;
    if ((i = digits(i)) === FAIL) return FAIL;
  }
  return i;
}

function word(i: number, w: readonly number[]): number {
  for (let k = 0; k < w.length; k++) if (b[i + k] !== w[k]) return FAIL;
  return i + w.length;
}

/** Skip one value at `i` (no leading whitespace): the position after it, or FAIL. */
function skip(i: number, depth: number): number {
  const c = b[i];
  if (c === 34) return str(i);
  if (c === 123 || c === 91) {
    if (depth >= MAX_DEPTH) return FAIL;
    const close = c === 123 ? 125 : 93;
    i = ws(i + 1);
    if (b[i] === close) return i + 1;
    for (;;) {
      if (c === 123) {
        if (b[i] !== 34 || (i = str(i)) === FAIL) return FAIL;
        i = ws(i);
        if (b[i] !== 58) return FAIL;
        i = ws(i + 1);
      }
      if ((i = skip(i, depth + 1)) === FAIL) return FAIL;
      i = ws(i);
      if (b[i] === 44) i = ws(i + 1);
      else if (b[i] === close) return i + 1;
      else return FAIL;
    }
  }
  if (c === 116) return word(i, TRUE);
  if (c === 102) return word(i, FALSE);
  if (c === 110) return word(i, NULL);
  if (c === 45 || (c !== undefined && c >= 48 && c <= 57)) return num(i);
  return FAIL;
}

const utf8 = (from: number, to: number) => src.toString('utf8', from, to);
// only ever called on ASCII bytes (keys, numbers, unescaped ASCII strings)
const latin1 = (from: number, to: number) => src.toString('latin1', from, to);

// Strings kept per line are mostly the same few (service, route, host,
// method) or repeat (IPs): a byte hash table hands back the string already
// made, cheaper than making it again. A slot holds the last string hashed to it.
const INTERN_SLOTS = 8192;
const INTERN_MAX_BYTES = 64;
/** slot i's bytes at i * INTERN_MAX_BYTES, its length in internLength[i] (0: empty) */
const internPool = new Uint8Array(INTERN_SLOTS * INTERN_MAX_BYTES);
const internLength = new Uint8Array(INTERN_SLOTS);
const internStrings: string[] = new Array<string>(INTERN_SLOTS).fill('');

/** The string of the ASCII bytes [from, to). */
function ascii(from: number, to: number): string {
  const len = to - from;
  if (len > INTERN_MAX_BYTES || len === 0) return latin1(from, to);
  const buf = b;
  let h = len;
  for (let k = from; k < to; k++) h = (Math.imul(h, 31) + (buf[k] as number)) | 0;
  const slot = h & (INTERN_SLOTS - 1);
  const at = slot * INTERN_MAX_BYTES;
  const pool = internPool;
  if (internLength[slot] === len) {
    let k = 0;
    while (k < len && pool[at + k] === buf[from + k]) k++;
    if (k === len) return internStrings[slot] as string;
  }
  const str = latin1(from, to);
  pool.set(buf.subarray(from, to), at);
  internLength[slot] = len;
  internStrings[slot] = str;
  return str;
}

/** The value JSON.parse gives for the value in [from, to) (already checked). */
function decode(from: number, to: number, wasString: boolean, escaped: boolean, high: boolean): unknown {
  const c = b[from];
  if (wasString) {
    if (escaped) return JSON.parse(utf8(from, to)) as unknown;
    return high ? utf8(from + 1, to - 1) : ascii(from + 1, to - 1);
  }
  if (c === 116) return true;
  if (c === 102) return false;
  if (c === 110) return null;
  if (c === 123 || c === 91) return JSON.parse(utf8(from, to)) as unknown;
  // an integer of up to 15 digits is exact in a double: no string needed
  if (to - from <= 15 && c !== 45) {
    let n = 0;
    for (let k = from; k < to; k++) {
      const d = (b[k] as number) - 48;
      if (d < 0 || d > 9) return Number(latin1(from, to));
      n = n * 10 + d;
    }
    return n;
  }
  return Number(latin1(from, to));
}

function sameBytes(from: number, to: number, name: Uint8Array): boolean {
  if (to - from !== name.length) return false;
  for (let k = 0; k < name.length; k++) if (b[from + k] !== name[k]) return false;
  return true;
}

function sameLowerAscii(from: number, to: number, name: Uint8Array): boolean {
  if (to - from !== name.length || name.length === 0) return false;
  for (let k = 0; k < name.length; k++) {
    let x = b[from + k] as number;
    if (x >= 65 && x <= 90) x += 32;
    if (x !== name[k]) return false;
  }
  return true;
}

/** `i` at '{': read the object, keeping the fields of node `nd`; the position after it, or FAIL. */
function object(i: number, nd: Node, depth: number): number {
  if (depth >= MAX_DEPTH) return FAIL;
  i = ws(i + 1);
  if (b[i] === 125) return i + 1;
  for (;;) {
    if (b[i] !== 34) return FAIL;
    const keyFrom = i;
    if ((i = str(i)) === FAIL) return FAIL;
    const keyTo = i;
    const keyEscaped = strEscaped;
    const keyHigh = strHigh;
    i = ws(i);
    if (b[i] !== 58) return FAIL;
    i = ws(i + 1);

    // Which kept field, if any, this key is.
    let field = -1;
    let headerKey: string | undefined;
    if (keyEscaped || keyHigh) {
      const key = decode(keyFrom, keyTo, true, keyEscaped, keyHigh) as string;
      field = nd.strings.indexOf(key);
      if (field < 0 && nd.lower.includes(key.toLowerCase())) headerKey = key;
    } else {
      const same = nd.byLength[keyTo - keyFrom - 2];
      if (same !== undefined) {
        for (let k = 0; k < same.length; k++) {
          const f = same[k] as number;
          if (sameBytes(keyFrom + 1, keyTo - 1, nd.names[f] as Uint8Array)) {
            field = f;
            break;
          }
        }
      }
      for (let k = 0; field < 0 && k < nd.lowerBytes.length; k++) {
        if (sameLowerAscii(keyFrom + 1, keyTo - 1, nd.lowerBytes[k] as Uint8Array)) headerKey = latin1(keyFrom + 1, keyTo - 1);
        if (headerKey !== undefined) break;
      }
    }

    const valueFrom = i;
    const t = field >= 0 ? (nd.target[field] as number) : 0;
    if (t < 0) {
      const child = -1 - t;
      if (kind[child] !== ABSENT) reset(child);
      if (b[i] === 123) {
        kind[child] = OBJECT;
        if ((i = object(i, nodes[child] as Node, depth + 1)) === FAIL) return FAIL;
      } else {
        kind[child] = OTHER;
        if ((i = skip(i, depth + 1)) === FAIL) return FAIL;
      }
    } else {
      if ((i = skip(i, depth + 1)) === FAIL) return FAIL;
      if (field >= 0 || headerKey !== undefined) {
        const v = decode(valueFrom, i, b[valueFrom] === 34, strEscaped, strHigh);
        if (field >= 0) vals[t] = v;
        else {
          // an own property named __proto__ needs defineProperty: rare, slow path
          if (headerKey === '__proto__') return FAIL;
          headerKeys.push(headerKey as string);
          headerVals.push(v);
        }
      }
    }
    i = ws(i);
    if (b[i] === 44) i = ws(i + 1);
    else if (b[i] === 125) return i + 1;
    else return FAIL;
  }
}

/**
 * Bytes [from, to) of `buf`: one line, without its line end. Read past `to`
 * only as far as a token's next byte, and only while the line so far is a
 * JSON prefix; a line end there matches nothing the grammar wants next, and
 * a match would leave the position past `to`, which fails the final check.
 */
export type KongLogScanner = (buf: Buffer, from: number, to: number) => Obj | undefined;

/**
 * A scanner for Kong log lines: given the bytes of one line, an object with
 * the fields of it that recordFromKongLog reads (`credentialHeader` is the
 * header of the `header` credential source), or undefined when the line is
 * anything but one JSON object (not JSON, an array, blank, nested deeper than
 * MAX_DEPTH): then use JSON.parse.
 */
export function kongLogScanner(credentialHeader: string): KongLogScanner {
  const own = kongLogNodes([...new Set([...KONG_LOG_HEADERS, credentialHeader.toLowerCase()])]).nodes;
  let viewOf: Buffer | undefined;
  let view: Uint8Array = new Uint8Array(0);
  return (buf, from, to) => {
    // one view per chunk, not per line
    if (buf !== viewOf) {
      viewOf = buf;
      view = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
    }
    src = buf;
    b = view;
    end = to;
    nodes = own;
    vals.fill(undefined);
    kind.fill(ABSENT);
    headerKeys.length = 0;
    headerVals.length = 0;
    const i = ws(from);
    const after = b[i] === 123 ? object(i, own[0] as Node, 0) : FAIL;
    return after !== FAIL && ws(after) === to ? (build(0) as Obj) : undefined;
  };
}
