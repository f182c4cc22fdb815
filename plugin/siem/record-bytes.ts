// How large a record is on the wire, at most: a batch is cut before its JSON
// passes BATCH_MAX_BYTES, whatever `batch_max_size` says. A client controls
// some of a record's strings (the Host header, the method, a credential
// header: up to 256 code points each, a raw credential whole), so a batch of
// a large `batch_max_size` filled by one client's requests passed the
// aggregator's body limit (5 MiB by default, after decompression) and was
// refused with 413 and dropped: every other client's records in it with it.
import type { SiemRecord } from '../../common/record';

/** A batch's records stop short of this many bytes of JSON: room below the aggregator's default 5 MiB for the envelope and settings. */
export const BATCH_MAX_BYTES = 4 * 1024 * 1024;

/** field names, numbers, punctuation: generously */
const FIXED_BYTES = 200;

/** Bytes `s` takes in JSON at most: escapes for controls, quote and backslash; UTF-8 otherwise (a surrogate half as an escape). */
function jsonBytes(s: string | undefined): number {
  if (s === undefined) return 0;
  let n = 2;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    n += c < 0x20 || (c >= 0xd800 && c <= 0xdfff) ? 6 : c === 0x22 || c === 0x5c ? 2 : c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
  }
  return n;
}

/** An upper bound of JSON.stringify(r)'s UTF-8 bytes. */
export function recordBytes(r: SiemRecord): number {
  return (
    FIXED_BYTES +
    jsonBytes(r.ip) +
    jsonBytes(r.service) +
    jsonBytes(r.credential) +
    jsonBytes(r.consumer) +
    jsonBytes(r.host) +
    jsonBytes(r.route) +
    jsonBytes(r.method)
  );
}
