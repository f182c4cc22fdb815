// Ingest requests refused whole (answered 4xx/5xx), told to the operator: the
// first of each status at once, then at most one line per status per period
// with the count since the previous line and the addresses they came from.
// kong_siem_ingest_refused_total says that senders are refused; this says
// which: a gateway's address is one with a stale ingest_token or oversized
// batches, any other is someone else posting to the ingest port (the counter,
// and its alert, cannot tell the two apart).
import type { FastifyBaseLogger } from 'fastify';
import { STRING_MAX, truncateCodePoints } from '../common/limits';

export const REFUSAL_LOG_PERIOD_MS = 60_000;
/** distinct addresses named per line */
const CLIENTS_SHOWN = 5;
/**
 * refusals per status and line whose address is looked up: behind a trusted
 * proxy that is a walk of X-Forwarded-For (3.7 ms for 1,500 trusted entries,
 * which a client inside SIEM_TRUST_PROXY may write), and a 401 needs no token
 */
export const LOOKUPS_MAX = 20;

interface Held {
  n: number;
  clients: Set<string>;
  /** addresses looked up for this line */
  looked: number;
  error?: string;
}

export class RefusalLog {
  readonly #last = new Map<number, number>();
  readonly #held = new Map<number, Held>();

  constructor(
    private readonly log: FastifyBaseLogger,
    private readonly periodMs = REFUSAL_LOG_PERIOD_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** One ingest request answered `status` on `route`, from `client()`; `error`, the answer's message. */
  note(status: number, route: string, client: () => string, error: string | undefined): void {
    let h = this.#held.get(status);
    if (!h) this.#held.set(status, (h = { n: 0, clients: new Set(), looked: 0 }));
    h.n++;
    if (h.clients.size < CLIENTS_SHOWN && h.looked < LOOKUPS_MAX) {
      h.looked++;
      h.clients.add(client());
    }
    // the answer may quote the request (its Content-Type, up to node's 16 KB of headers)
    h.error ??= error === undefined ? undefined : truncateCodePoints(error, STRING_MAX);
    const t = this.now();
    const last = this.#last.get(status);
    if (last !== undefined && t - last < this.periodMs) return;
    this.#last.set(status, t);
    this.#held.delete(status);
    this.log.warn(
      {
        status,
        route,
        refused: h.n,
        since_ms: last === undefined ? undefined : t - last,
        clients: [...h.clients],
        error: h.error,
      },
      last === undefined ? `first ingest request refused with ${status}` : `ingest requests refused with ${status}`,
    );
  }
}
