// Replay's per-line work: a block of whole lines in, checked records and the
// refused lines out. Pure (no state, no clock), so it runs alike on the main
// thread (--workers 1) and in the parser threads (cli/replay-worker.ts),
// which the main thread then feeds into the state in file order.
import { fingerprint } from '../common/fingerprint';
import { STRING_MAX, withinCodePoints } from '../common/limits';
import { isStreamLog, recordFromKongLog, type RecordOptions } from '../common/kong-log';
import type { KeyedRecord } from '../aggregator/state/state';
import { keyRecord } from '../aggregator/validate-record';
import { kongLogScanner } from './kong-log-scan';
import { nestedDeeper } from './json-bytes';

/**
 * Deepest nesting of a line read: Kong's JSON encoder (lua-cjson, whose
 * encode_max_depth is 1000) writes nothing deeper, so a deeper line is no log
 * of Kong's. Refused before JSON.parse, which took 8 s and 900 MB of RSS for
 * one line of 8M `[` (16 KB gzipped).
 */
export const MAX_LINE_DEPTH = 1000;

/** Fingerprints remembered: a log repeats few credentials, and SHA-256 per record costs. */
const FINGERPRINT_CACHE = 50_000;
/** ...and at most this many characters of raw credentials (~4 MB) in all: a header value can be any length. */
export const FINGERPRINT_CACHE_CHARS = 2_000_000;
/** A longer raw credential is fingerprinted every time, not remembered. */
export const FINGERPRINT_CACHED_MAX = 1024;

/** fingerprint(raw, hashKey) through a cache bounded in entries and characters (one per thread). */
export function fingerprintCache(hashKey: string | undefined): { of(raw: string): string; readonly size: number; readonly chars: number } {
  const fingerprints = new Map<string, string>();
  let chars = 0;
  return {
    of(raw) {
      let f = fingerprints.get(raw);
      if (f === undefined) {
        f = fingerprint(raw, hashKey);
        if (raw.length <= FINGERPRINT_CACHED_MAX) {
          if (fingerprints.size >= FINGERPRINT_CACHE || chars + raw.length > FINGERPRINT_CACHE_CHARS) {
            fingerprints.clear();
            chars = 0;
          }
          fingerprints.set(raw, f);
          chars += raw.length;
        }
      }
      return f;
    },
    get size() {
      return fingerprints.size;
    },
    get chars() {
      return chars;
    },
  };
}

export interface LineOptions {
  record: Readonly<RecordOptions>;
  ipv6Prefix: number;
  /** keep records with ts >= since (ms) */
  since?: number;
  /** keep records with ts < until (ms) */
  until?: number;
}

/** What a block of lines gave. */
export interface BlockResult {
  lines: number;
  /** valid records in line order */
  records: KeyedRecord[];
  /** the line of each record within the block (from 1) */
  recordLines: number[];
  /** refused lines as pairs: line number within the block (from 1), reason */
  bad: (number | string)[];
  /** lines (or array entries) that were Kong log objects, usable or not */
  kongLogs: number;
  /** logs of Kong's stream subsystem: no request records, no bad lines either */
  stream: number;
  /** records outside since/until */
  filtered: number;
}

/** Why a parsed line is not a Kong log object (the bad-line reason). */
export function missingFields(log: unknown): string {
  if (log === null || typeof log !== 'object' || Array.isArray(log)) return 'not a Kong log object';
  const l = log as Record<string, unknown>;
  const miss: string[] = [];
  if (l.client_ip === undefined) miss.push('client_ip');
  const resp = l.response as Record<string, unknown> | undefined;
  if (resp === undefined || resp === null || typeof resp !== 'object' || resp.status === undefined) miss.push('response.status');
  if (l.started_at === undefined) miss.push('started_at');
  return miss.length > 0
    ? `not a Kong log object: no ${miss.join(', ')}`
    : 'not a Kong log object: client_ip, response.status or started_at mistyped';
}

const REASONS: Record<string, string> = {
  ip: 'client_ip is not an IP address',
  status: 'response.status is outside 100-599',
  length: 'a field is over 256 characters',
  invalid: 'a field is missing or mistyped',
};

/** Maps blocks of lines (`block`); one per thread: it keeps a fingerprint cache. */
export function lineMapper(o: LineOptions): (buf: Buffer, from: number, to: number) => BlockResult {
  // Raw credentials from the mapping; fingerprinted here through a cache.
  const rawRecord: Readonly<RecordOptions> = { ...o.record, hashCredentials: false, rawCredential: true };
  const fingerprints = fingerprintCache(o.record.hashKey);
  const scan = kongLogScanner(o.record.credentialHeader);
  let out: BlockResult;
  let lineNo = 0;

  /** One log object; `refuse` hears why it is not a record. */
  const take = (log: unknown, refuse: (reason: string) => void): void => {
    const rec = recordFromKongLog(log, rawRecord);
    if (!rec) {
      if (isStreamLog(log)) {
        out.kongLogs++;
        out.stream++;
      } else refuse(missingFields(log));
      return;
    }
    out.kongLogs++;
    // as credentialValue (common/kong-log.ts): hashed, or too long to go raw
    if (rec.credential !== undefined && (o.record.hashCredentials || !withinCodePoints(rec.credential, STRING_MAX)))
      rec.credential = fingerprints.of(rec.credential);
    if ((o.since !== undefined && rec.ts < o.since) || (o.until !== undefined && rec.ts >= o.until)) {
      out.filtered++;
      return;
    }
    const r = keyRecord(rec, o.ipv6Prefix);
    if (typeof r === 'string') refuse(REASONS[r] ?? r);
    else {
      out.records.push(r);
      out.recordLines.push(lineNo);
    }
  };
  const bad = (reason: string) => void out.bad.push(lineNo, reason);

  const slowPath = (buf: Buffer, from: number, to: number): void => {
    if (nestedDeeper(buf, from, to, MAX_LINE_DEPTH)) {
      bad(`nested deeper than ${MAX_LINE_DEPTH} levels: not JSON Kong writes`);
      return;
    }
    const text = buf.toString('utf8', from, to);
    if (text.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      bad(`not JSON (${(err as Error).message})`);
      return;
    }
    // A captured http-log batch is an array of log objects on one line: one
    // line, so at most one bad line however many of its entries are refused.
    if (Array.isArray(parsed)) {
      let refused = 0;
      let first = '';
      const sink = (reason: string) => {
        if (refused++ === 0) first = reason;
      };
      for (const log of parsed) take(log, sink);
      if (parsed.length === 0) bad('an empty array, not a Kong log object');
      else if (refused > 0) bad(`${refused} of ${parsed.length} entries of this array refused; the first: ${first}`);
    } else take(parsed, bad);
  };

  const line = (buf: Buffer, from: number, to: number): void => {
    lineNo++;
    if (to > from && buf[to - 1] === 13) to--;
    // The common line, one Kong log object, without JSON.parse; the rest
    // (blank, arrays, not JSON) through JSON.parse, where errors get their wording.
    const log = scan(buf, from, to);
    if (log !== undefined) take(log, bad);
    else slowPath(buf, from, to);
  };

  /** The lines of buf[from, to): each ends at a \n, the last one may not (the end of a file). */
  return (buf, from, to) => {
    out = { lines: 0, records: [], recordLines: [], bad: [], kongLogs: 0, stream: 0, filtered: 0 };
    lineNo = 0;
    let nl = buf.indexOf(10, from);
    while (nl >= 0 && nl < to) {
      line(buf, from, nl);
      from = nl + 1;
      nl = buf.indexOf(10, from);
    }
    if (from < to) line(buf, from, to);
    out.lines = lineNo;
    return out;
  };
}
