// Rejected records, told to the operator: the first rejection of each reason
// is logged with a sample record, then at most one line per reason per
// period carrying the count since the previous line. A sender sees the
// reasons in each 202 (`rejected_by`); this is for whoever reads the logs.
import type { FastifyBaseLogger } from 'fastify';
import { STRING_MAX, truncateCodePoints } from '../common/limits';
import type { RejectReason } from './state/state';

export const REJECTION_LOG_PERIOD_MS = 60_000;
/** code points of a sample's JSON kept in the log line */
const SAMPLE_MAX = 512;

/**
 * A rejected record as it may be logged: the credential replaced by its
 * length (it may be a raw credential, with SIEM_HASH_CREDENTIALS=false), the
 * whole cut to SAMPLE_MAX code points of JSON.
 */
export function sampleOf(record: unknown): string {
  let shown = record;
  if (record !== null && typeof record === 'object' && !Array.isArray(record) && 'credential' in record) {
    const c = (record as { credential: unknown }).credential;
    const what = typeof c === 'string' ? `<credential of ${[...c.slice(0, 4 * STRING_MAX)].length} code points>` : `<${typeof c}>`;
    shown = { ...(record as object), credential: what };
  }
  let json: string;
  try {
    json = JSON.stringify(shown) ?? typeof shown;
  } catch {
    // Nested past the stack (a few KB of `[`): String() would recurse too, and
    // throws on an object with a `toString` key; thrown here, the batch's good
    // records were stored but answered 500, so its retry counted them twice.
    json = shallow(shown);
  }
  return truncateCodePoints(json, SAMPLE_MAX);
}

/** One level of a value JSON.stringify refused: containers inside it named, not walked. */
function shallow(v: unknown): string {
  const level = (x: unknown) => (Array.isArray(x) ? '<array>' : x !== null && typeof x === 'object' ? '<object>' : x);
  if (Array.isArray(v)) return JSON.stringify(v.slice(0, 16).map(level));
  if (v === null || typeof v !== 'object') return typeof v;
  const o: Record<string, unknown> = Object.create(null);
  for (const k of Object.keys(v).slice(0, 16)) o[k] = level((v as Record<string, unknown>)[k]);
  return JSON.stringify(o);
}

export class RejectionLog {
  readonly #last = new Map<RejectReason, number>();
  readonly #unlogged = new Map<RejectReason, number>();

  constructor(
    private readonly log: FastifyBaseLogger,
    private readonly periodMs = REJECTION_LOG_PERIOD_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** `n` records rejected for `reason` in one batch; `sample` gives one of them, asked only when a line is due. */
  note(reason: RejectReason, n: number, sample: () => unknown): void {
    if (n <= 0) return;
    const count = (this.#unlogged.get(reason) ?? 0) + n;
    const t = this.now();
    const last = this.#last.get(reason);
    if (last !== undefined && t - last < this.periodMs) {
      this.#unlogged.set(reason, count);
      return;
    }
    this.#last.set(reason, t);
    this.#unlogged.delete(reason);
    this.log.warn(
      { reason, rejected: count, since_ms: last === undefined ? undefined : t - last, sample: sampleOf(sample()) },
      last === undefined ? `first record rejected for reason "${reason}"` : `records rejected for reason "${reason}"`,
    );
  }
}
