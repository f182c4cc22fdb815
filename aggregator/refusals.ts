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
/** distinct addresses named per line; the rest are counted */
const CLIENTS_SHOWN = 5;

interface Held {
  n: number;
  clients: Set<string>;
  /** refusals from addresses beyond CLIENTS_SHOWN */
  others: number;
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

  /** One ingest request answered `status` on `route`, from `client`; `error`, the answer's message. */
  note(status: number, route: string, client: string, error: string | undefined): void {
    let h = this.#held.get(status);
    if (!h) this.#held.set(status, (h = { n: 0, clients: new Set(), others: 0 }));
    h.n++;
    if (h.clients.has(client) || h.clients.size < CLIENTS_SHOWN) h.clients.add(client);
    else h.others++;
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
        ...(h.others > 0 && { from_other_clients: h.others }),
        error: h.error,
      },
      last === undefined ? `first ingest request refused with ${status}` : `ingest requests refused with ${status}`,
    );
  }
}
