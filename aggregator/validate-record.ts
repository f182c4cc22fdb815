// Per-record validation (docs/api.md, "The record": a record is invalid when
// a required field is missing or mistyped, `ip` does not parse, `status` is
// out of range, or a string is over its length). Each bad record is rejected
// with a reason and the rest of its batch is kept; unknown fields are ignored.
import type { ErrorObject, ValidateFunction } from 'ajv';
import { OUTCOMES, type Outcome } from '../common/record';
import { IP_TEXT_MAX, STRING_MAX, wellFormed } from '../common/limits';
import { ipKey } from '../common/ip-key';
import type { KeyedRecord, RejectReason } from './state/state';

const optionalString = { type: 'string', maxLength: STRING_MAX };

export const RECORD_SCHEMA = {
  type: 'object',
  required: ['ts', 'ip', 'status', 'service'],
  properties: {
    ts: { type: 'integer', minimum: 0 },
    ip: { type: 'string', maxLength: IP_TEXT_MAX },
    status: { type: 'integer', minimum: 100, maximum: 599 },
    service: { type: 'string', minLength: 1, maxLength: STRING_MAX },
    credential: optionalString,
    consumer: optionalString,
    host: optionalString,
    route: optionalString,
    method: optionalString,
    latency_ms: { type: 'number', minimum: 0 },
    outcome: { type: 'string', enum: OUTCOMES },
  },
} as const;

// Compiled on the first record the written-out checks below refuse: most
// runs (and every replay parser thread) never load Ajv for it.
let compiled: ValidateFunction | undefined;
function check(): ValidateFunction {
  if (!compiled) {
    const Ajv = (require('ajv') as typeof import('ajv')).default;
    compiled = new Ajv({ allErrors: false, coerceTypes: false }).compile(RECORD_SCHEMA);
  }
  return compiled;
}

function reasonOf(err: ErrorObject | undefined): RejectReason {
  if (!err) return 'invalid';
  if (err.instancePath === '/status' && (err.keyword === 'minimum' || err.keyword === 'maximum')) return 'status';
  if (err.keyword === 'maxLength') return err.instancePath === '/ip' ? 'ip' : 'length';
  return 'invalid';
}

export type Checked = { ok: true; record: KeyedRecord } | { ok: false; reason: RejectReason };

const shortOrAbsent = (v: unknown) => v === undefined || (typeof v === 'string' && v.length <= STRING_MAX);

/**
 * RECORD_SCHEMA's checks written out for the common, valid record; false
 * sends the record to Ajv, which decides and names the reason. Never true
 * where Ajv says invalid: a string within `length` UTF-16 units is within
 * that many code points (Ajv's maxLength), so only valid records pass here.
 */
function plainValid(x: unknown): boolean {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return false;
  const r = x as Record<string, unknown>;
  const { ts, ip, status, service, latency_ms: latency } = r;
  if (typeof ts !== 'number' || !Number.isInteger(ts) || ts < 0) return false;
  if (typeof ip !== 'string' || ip.length > IP_TEXT_MAX) return false;
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) return false;
  if (typeof service !== 'string' || service.length < 1 || service.length > STRING_MAX) return false;
  // written out, not a loop over the names: named loads stay monomorphic on the parsed records' shapes
  if (!shortOrAbsent(r.credential) || !shortOrAbsent(r.consumer) || !shortOrAbsent(r.host)) return false;
  if (!shortOrAbsent(r.route) || !shortOrAbsent(r.method)) return false;
  if (r.outcome !== undefined && r.outcome !== 'success' && r.outcome !== 'failure') return false;
  return latency === undefined || (typeof latency === 'number' && Number.isFinite(latency) && latency >= 0);
}

export function checkRecord(input: unknown, ipv6Prefix: number): Checked {
  const r = keyRecord(input, ipv6Prefix);
  return typeof r === 'string' ? { ok: false, reason: r } : { ok: true, record: r };
}

/** checkRecord without the wrapper object: the keyed record, or why it is rejected (the ingest route's path). */
export function keyRecord(input: unknown, ipv6Prefix: number): KeyedRecord | RejectReason {
  if (!plainValid(input)) {
    const ajv = check();
    if (!ajv(input)) return reasonOf(ajv.errors?.[0]);
  }
  const r = input as { ts: number; ip: string; status: number; service: string; credential?: string; outcome?: Outcome };
  const key = ipKey(r.ip, ipv6Prefix);
  if (key === undefined) return 'ip';
  // Lone surrogates become U+FFFD before the names key anything (lengths
  // are unchanged: either counts as one code point).
  const record: KeyedRecord = { ts: r.ts, ipKey: key, status: r.status, service: wellFormed(r.service) };
  if (r.credential) record.credential = wellFormed(r.credential);
  if (r.outcome !== undefined) record.outcome = r.outcome;
  return record;
}
