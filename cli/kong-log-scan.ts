// Replay's fast path: one pass over the bytes of a log line that checks it is
// JSON (RFC 8259's grammar, as JSON.parse) and keeps only the fields
// recordFromKongLog reads (cli/kong-log-kept.ts, from the mapping's own
// table KONG_LOG_FIELDS), so a 1.6 KB Kong log object does not become ~80 JS
// objects and strings per line. Anything this does not handle simply (a line
// that is not one JSON object, deep nesting) returns undefined and the caller
// takes the slow path, JSON.parse, which also words the error of a bad line.
//
// One loop with an explicit stack (no call per value or per container), and
// a string loop that takes most bytes in one test: most of a Kong log is
// subtrees nobody reads (route, service, tries, latencies, most headers),
// which this only checks.
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
// - a top-level object or array whose bytes equal one scanned whole before
//   (cli/kong-log-memo.ts: `route`, `service`, the same for every request of
//   a route) takes what that scan kept instead of being scanned again: equal
//   bytes are an equal value, and a kept node's state is blank where its
//   value starts (nodes holding the headers are never remembered).

import { KONG_LOG_HEADERS } from '../common/kong-log';
import { ESCAPES, HEX } from './json-bytes';
import {
  ABSENT,
  OBJECT,
  OTHER,
  ascii,
  build,
  clearKept,
  decode,
  headerKeys,
  headerVals,
  kind,
  keySig,
  kongLogNodes,
  reset,
  sigSlot,
  SIG_SLOTS,
  vals,
  type Node,
} from './kong-log-kept';
import { type KeyMemo, TopMemo } from './kong-log-memo';

type Obj = Record<string, unknown>;

/** Nesting beyond this goes to JSON.parse. */
const MAX_DEPTH = 64;
const FAIL = -1;

// The stack, per depth: the container (a kept node's index, SKIPPED or
// ARRAY), and the kept value awaited there (a leaf slot, HEADER or NONE),
// where it began and, for a header, its key.
const SKIPPED = -1;
const ARRAY = -2;
const NONE = -1;
const HEADER = -2;
const REFUSED = -3;
const ctx = new Int32Array(MAX_DEPTH + 1);
const pend = new Int32Array(MAX_DEPTH + 1);
const pendFrom = new Int32Array(MAX_DEPTH + 1);
const pendHeader: string[] = new Array<string>(MAX_DEPTH + 1).fill('');

/** whether the last string strEnd read held a backslash */
let strEscaped = false;

/** `j` just after an opening quote: the position after the closing one, or FAIL. */
function strEnd(b: Uint8Array, j: number, n: number): number {
  strEscaped = false;
  for (;;) {
    const c = b[j] as number;
    // most bytes: letters, digits, punctuation past the backslash
    if (c > 92) {
      j++;
      continue;
    }
    if (c === 34) return j + 1;
    if (c === 92) {
      strEscaped = true;
      const e = b[j + 1] as number;
      if (e === 117) {
        if (j + 5 >= n) return FAIL;
        for (let k = 2; k <= 5; k++) if (HEX[b[j + k] as number] !== 1) return FAIL;
        j += 6;
      } else if (ESCAPES[e] === 1 && j + 1 < n) j += 2;
      else return FAIL;
      continue;
    }
    // a control char (the line end included), or past the buffer (undefined)
    if (!(c >= 32) || j >= n) return FAIL;
    j++;
  }
}

function digitsEnd(b: Uint8Array, i: number): number {
  let c = b[i] as number;
  if (!(c >= 48 && c <= 57)) return FAIL;
  do c = b[++i] as number;
  while (c >= 48 && c <= 57);
  return i;
}

/** `i` at '-' or a digit: the position after the number, or FAIL. */
function numEnd(b: Uint8Array, i: number): number {
  if (b[i] === 45) i++;
  if (b[i] === 48) i++;
  else if ((i = digitsEnd(b, i)) === FAIL) return FAIL;
  if (b[i] === 46 && (i = digitsEnd(b, i + 1)) === FAIL) return FAIL;
  const c = b[i];
  if (c === 101 || c === 69) {
    i++;
    if (b[i] === 43 || b[i] === 45) i++;
    return digitsEnd(b, i);
  }
  return i;
}

/** `i` at a literal's first byte: the position after it, or FAIL. */
function wordEnd(b: Uint8Array, i: number, c: number): number {
  if (c === 116) return b[i + 1] === 114 && b[i + 2] === 117 && b[i + 3] === 101 ? i + 4 : FAIL;
  if (c === 102) return b[i + 1] === 97 && b[i + 2] === 108 && b[i + 3] === 115 && b[i + 4] === 101 ? i + 5 : FAIL;
  return b[i + 1] === 117 && b[i + 2] === 108 && b[i + 3] === 108 ? i + 4 : FAIL;
}

function sameBytes(b: Uint8Array, from: number, to: number, name: Uint8Array): boolean {
  if (to - from !== name.length) return false;
  for (let k = 0; k < name.length; k++) if (b[from + k] !== name[k]) return false;
  return true;
}

function sameLowerAscii(b: Uint8Array, from: number, to: number, name: Uint8Array): boolean {
  if (to - from !== name.length || name.length === 0) return false;
  for (let k = 0; k < name.length; k++) {
    let x = b[from + k] as number;
    if (x >= 65 && x <= 90) x += 32;
    if (x !== name[k]) return false;
  }
  return true;
}

/**
 * The key [keyFrom, keyTo) (quotes included) of kept node `nd`, at `depth`:
 * sets the leaf its value is awaited as (pend); returns the child node it
 * names, or SKIPPED; REFUSED for a key this does not take (__proto__).
 */
function keyOf(src: Buffer, b: Uint8Array, nd: Node, depth: number, keyFrom: number, keyTo: number): number {
  const kf = keyFrom + 1;
  const kt = keyTo - 1;
  let field = -1;
  let headerKey: string | undefined;
  if (kt > kf && !strEscaped) {
    const sig = keySig(b, kf, kt);
    for (let slot = sigSlot(sig); ; slot = (slot + 1) & (SIG_SLOTS - 1)) {
      const f = nd.sigNames[slot] as number;
      if (f < 0) break;
      if (nd.sigs[slot] === sig && sameBytes(b, kf, kt, nd.names[f] as Uint8Array)) {
        field = f;
        break;
      }
    }
  }
  if (field < 0) {
    let high = false;
    if (nd.headers && !strEscaped) for (let k = kf; k < kt && !high; k++) high = (b[k] as number) >= 128;
    if (strEscaped || high) {
      // as JSON.parse spells the key
      const key = decode(src, b, keyFrom, keyTo) as string;
      field = nd.strings.indexOf(key);
      if (field < 0 && nd.lower.includes(key.toLowerCase())) headerKey = key;
    } else if (nd.headers) {
      for (let k = 0; k < nd.lowerBytes.length && headerKey === undefined; k++)
        if (sameLowerAscii(b, kf, kt, nd.lowerBytes[k] as Uint8Array)) headerKey = ascii(src, b, kf, kt);
    }
  }
  if (field >= 0) {
    const t = nd.target[field] as number;
    if (t < 0) return -1 - t;
    pend[depth] = t;
  } else if (headerKey !== undefined) {
    // an own property named __proto__ needs defineProperty: rare, slow path
    if (headerKey === '__proto__') return REFUSED;
    pend[depth] = HEADER;
    pendHeader[depth] = headerKey;
  }
  return SKIPPED;
}

/** The kept value awaited at `depth` ends at `to`: decode it. */
function keep(src: Buffer, b: Uint8Array, depth: number, to: number): void {
  const v = decode(src, b, pendFrom[depth] as number, to);
  const slot = pend[depth] as number;
  if (slot >= 0) vals[slot] = v;
  else {
    headerKeys.push(pendHeader[depth] as string);
    headerVals.push(v);
  }
  pend[depth] = NONE;
}

const KEY = 0;
const VALUE = 1;
const AFTER = 2;

/** Whether bytes [from, n) of `src` are one JSON object; what it holds of `nodes` lands in kong-log-kept's state. */
function scanLine(src: Buffer, b: Uint8Array, w: DataView, from: number, n: number, nodes: readonly Node[], memo: TopMemo): boolean {
  let i = from;
  let c = b[i] as number;
  if (c <= 32) c = b[(i = wsOnly(b, i, n))] as number;
  if (c !== 123 || i >= n) return false;
  let depth = 0;
  ctx[0] = 0;
  pend[0] = NONE;
  i++;
  let state = KEY;
  /** just after '{' or '[': the container may close at once */
  let first = true;
  /** what an object starting as the next value is: a kept node, or SKIPPED */
  let valueCtx = SKIPPED;
  /** a top-level value missed in the memo, remembered when it closes */
  let recording: KeyMemo | undefined;
  let recordFrom = 0;
  for (;;) {
    c = b[i] as number;
    if (c <= 32) c = b[(i = wsOnly(b, i, n))] as number;
    if (state === AFTER || (first && (c === 125 || c === 93))) {
      const container = ctx[depth] as number;
      if (c === 44 && !first) {
        i++;
        state = container === ARRAY ? VALUE : KEY;
        continue;
      }
      if (c !== (container === ARRAY ? 93 : 125) || i >= n) return false;
      i++;
      first = false;
      if (depth === 0) return wsOnly(b, i, n) === n;
      depth--;
      if (depth === 0 && recording !== undefined) {
        recording.add(b, w, recordFrom, i);
        recording = undefined;
      }
      // the container was the value awaited one level up
      if (pend[depth] !== NONE) keep(src, b, depth, i);
      state = AFTER;
      continue;
    }
    first = false;
    if (state === KEY) {
      if (c !== 34) return false;
      const keyFrom = i;
      if ((i = strEnd(b, i + 1, n)) === FAIL) return false;
      const keyTo = i;
      const nd = ctx[depth] as number;
      let child = SKIPPED;
      pend[depth] = NONE;
      if (nd >= 0 && (child = keyOf(src, b, nodes[nd] as Node, depth, keyFrom, i)) === REFUSED) return false;
      c = b[i] as number;
      if (c <= 32) c = b[(i = wsOnly(b, i, n))] as number;
      if (c !== 58) return false;
      c = b[++i] as number;
      if (c <= 32) c = b[(i = wsOnly(b, i, n))] as number;
      pendFrom[depth] = i;
      valueCtx = SKIPPED;
      if (child >= 0) {
        // a kept object: what JSON.parse would give it is this value, whatever it held before
        if (kind[child] !== ABSENT) reset(nodes, child);
        kind[child] = c === 123 ? OBJECT : OTHER;
        if (c === 123) valueCtx = child;
      }
      if (depth === 0 && (c === 123 || c === 91) && pend[0] === NONE) {
        // a top-level object or array (not a kept leaf's): the memo may have it
        const m = child >= 0 ? memo.byNode[child] : strEscaped ? undefined : memo.byName(b, keyFrom + 1, keyTo - 1);
        if (m !== undefined) {
          const end = m.find(b, w, i, n);
          if (end >= 0) {
            i = end;
            state = AFTER;
            continue;
          }
          recording = m;
          recordFrom = i;
        }
      }
    } else if (ctx[depth] === ARRAY) {
      valueCtx = SKIPPED;
      pend[depth] = NONE;
    }
    // a value at `i`
    if (c === 123 || c === 91) {
      if (depth + 1 >= MAX_DEPTH) return false;
      depth++;
      ctx[depth] = c === 91 ? ARRAY : valueCtx;
      pend[depth] = NONE;
      state = c === 91 ? VALUE : KEY;
      first = true;
      i++;
      continue;
    }
    if (c === 34) i = strEnd(b, i + 1, n);
    else if (c === 45 || (c >= 48 && c <= 57)) i = numEnd(b, i);
    else if (c === 116 || c === 102 || c === 110) i = wordEnd(b, i, c);
    else return false;
    if (i === FAIL) return false;
    if (pend[depth] !== NONE) keep(src, b, depth, i);
    state = AFTER;
  }
}

/** Past JSON whitespace from `i`, not beyond `n`. */
function wsOnly(b: Uint8Array, i: number, n: number): number {
  while (i < n) {
    const c = b[i];
    if (c !== 32 && c !== 9 && c !== 13 && c !== 10) return i;
    i++;
  }
  return i;
}

/**
 * Bytes [from, to) of `buf`: one line, without its line end; the byte at
 * `to`, if any, is that line end (\n or \r), which no token takes.
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
  const memo = new TopMemo(own);
  let viewOf: Buffer | undefined;
  // a plain Uint8Array over the buffer: V8 indexes it faster than the Buffer subclass
  let view: Uint8Array = new Uint8Array(0);
  let words = new DataView(view.buffer);
  return (buf, from, to) => {
    // one view per chunk, not per line
    if (buf !== viewOf) {
      viewOf = buf;
      view = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
      words = new DataView(buf.buffer, buf.byteOffset, buf.length);
    }
    if (to < buf.length && buf[to] !== 10 && buf[to] !== 13) return undefined;
    clearKept();
    return scanLine(buf, view, words, from, to, own, memo) ? (build(own, 0) as Obj) : undefined;
  };
}
