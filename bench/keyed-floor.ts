// The keyed floor of cases 1 and 2: each record's two entities found and
// counted (its service and IP key, as the aggregator keys it: an IPv4
// address as a number in an open-addressing table, an IPv6 one by its /64
// in a Map; its service and credential, when there is one, in a Map). That
// is the least a state keyed per IP and per credential does per record,
// with no record validation, no window, no rule, no recency and no bound. It
// says what finding and counting the two entities costs on the machine,
// not what the aggregator, which also answers timers, scrapes and
// validation, could reach.
import { ipKey, ipv4Number } from '../common/ip-key';
import { INGEST_MIX } from './traffic';

/** Case 2's row of the floor in process. */
export const FLOOR_ROW = `records/s, keyed floor, batch ${INGEST_MIX.batch}, 80% with a credential`;

export interface FloorRecord {
  service?: unknown;
  ip?: unknown;
  credential?: unknown;
}

/** Counts per (service, IPv4 address): linear probing over 2^22 slots (the bench holds ~0.5M keys). */
class Ipv4Counts {
  static readonly BITS = 22;
  readonly #keys = new Float64Array(1 << Ipv4Counts.BITS);
  readonly #counts = new Uint32Array(1 << Ipv4Counts.BITS);
  size = 0;

  add(service: number, ip: number): void {
    const mask = (1 << Ipv4Counts.BITS) - 1;
    // service numbers start at 1: a key is never 0, the empty slot
    const key = service * 2 ** 32 + ip;
    let h = Math.imul(ip ^ service, 0x9e3779b1) >>> (32 - Ipv4Counts.BITS);
    while (this.#keys[h] !== 0 && this.#keys[h] !== key) h = (h + 1) & mask;
    if (this.#keys[h] === 0) {
      this.#keys[h] = key;
      this.size++;
    }
    this.#counts[h] = (this.#counts[h] as number) + 1;
  }
}

export class KeyedFloor {
  readonly #services = new Map<string, number>();
  readonly #v4 = new Ipv4Counts();
  readonly #others = new Map<string, { n: number }>();

  /** Entities held: (service, IP) and (service, credential) pairs. */
  get keys(): number {
    return this.#v4.size + this.#others.size;
  }

  count(records: readonly FloorRecord[]): void {
    for (const r of records) {
      const svc = String(r.service);
      let s = this.#services.get(svc);
      if (s === undefined) this.#services.set(svc, (s = this.#services.size + 1));
      const ip = String(r.ip);
      const n = ipv4Number(ip);
      if (n >= 0) this.#v4.add(s, n);
      else this.#other(`${svc}|${ipKey(ip) ?? ip}`);
      if (typeof r.credential === 'string') this.#other(`${svc}#${r.credential}`);
    }
  }

  #other(k: string): void {
    const e = this.#others.get(k);
    if (e) e.n++;
    else this.#others.set(k, { n: 1 });
  }
}
