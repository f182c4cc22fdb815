// Per-record validation (CONTRACT.md, "Definitions": a record is invalid when
// a required field is missing or mistyped, `ip` does not parse, `status` is
// out of range, or a string is over its length). Each bad record is rejected
// with a reason and the rest of its batch is kept; unknown fields are ignored.
import Ajv, { type ErrorObject } from 'ajv';
import { STRING_MAX } from '../common/record';
import { ipKey } from '../common/ip-key';
import type { KeyedRecord, RejectReason } from './state/state';

const optionalString = { type: 'string', maxLength: STRING_MAX };

export const RECORD_SCHEMA = {
  type: 'object',
  required: ['ts', 'ip', 'status', 'service'],
  properties: {
    ts: { type: 'integer', minimum: 0 },
    ip: { type: 'string', maxLength: 64 },
    status: { type: 'integer', minimum: 100, maximum: 599 },
    service: { type: 'string', minLength: 1, maxLength: STRING_MAX },
    credential: optionalString,
    consumer: optionalString,
    host: optionalString,
    route: optionalString,
    method: optionalString,
    latency_ms: { type: 'number', minimum: 0 },
  },
} as const;

const ajv = new Ajv({ allErrors: false, coerceTypes: false });
const check = ajv.compile(RECORD_SCHEMA);

function reasonOf(err: ErrorObject | undefined): RejectReason {
  if (!err) return 'invalid';
  if (err.instancePath === '/status' && (err.keyword === 'minimum' || err.keyword === 'maximum')) return 'status';
  if (err.keyword === 'maxLength') return err.instancePath === '/ip' ? 'ip' : 'length';
  return 'invalid';
}

export type Checked = { ok: true; record: KeyedRecord } | { ok: false; reason: RejectReason };

export function checkRecord(input: unknown, ipv6Prefix: number): Checked {
  if (!check(input)) return { ok: false, reason: reasonOf(check.errors?.[0]) };
  const r = input as { ts: number; ip: string; status: number; service: string; credential?: string };
  const key = ipKey(r.ip, ipv6Prefix);
  if (key === undefined) return { ok: false, reason: 'ip' };
  const record: KeyedRecord = { ts: r.ts, ipKey: key, status: r.status, service: r.service };
  if (r.credential) record.credential = r.credential;
  return { ok: true, record };
}
