// Deterministic benchmark traffic: the same seed gives the same records, so
// every case and its baseline see identical bodies. The mix follows the
// issue: ~10% IPv6, a large pool of distinct IPs with a skew (a few heavy
// hitters, a long tail), credentials on some records, 3% failures.
import type { SiemRecord } from '../common/record';

export { prng } from '../cli/kong-traffic';
import { prng } from '../cli/kong-traffic';

export interface TrafficOptions {
  seed: number;
  /** distinct client IPs to draw from */
  ipPool: number;
  /** distinct credentials to draw from */
  credentialPool?: number;
  services?: number;
  /** share of IPv6 clients */
  ipv6Share?: number;
  /** share of records with a credential */
  credentialShare?: number;
  failureShare?: number;
  /** records' ts: baseTs plus up to spreadMs */
  baseTs?: number;
  spreadMs?: number;
  /** 0: uniform over the pool; higher: more skew toward low indices */
  skew?: number;
}

const FAILURES = [401, 403, 404, 429, 500, 502] as const;
const SUCCESSES = [200, 200, 200, 201, 204, 301, 304] as const;
const METHODS = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'] as const;

/** The i-th IP of the pool: IPv6 for a fixed share of indices, IPv4 otherwise. */
export function ipOf(i: number, ipv6Share = 0.1): string {
  // a cheap hash decides the family so that it does not follow the skew
  const h = Math.imul(i ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
  if (h / 4294967296 < ipv6Share) {
    // distinct /64 per index, random-looking interface id
    return `2001:db8:${((i >>> 16) & 0xffff).toString(16)}:${(i & 0xffff).toString(16)}::${(h & 0xffff).toString(16)}`;
  }
  // 10.0.0.0/8-like spread over the whole IPv4 space, skipping 0 and 255 octets
  const n = (Math.imul(i + 1, 2654435761) >>> 0) % 4_000_000_000;
  return `${1 + ((n >>> 24) % 223)}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${1 + ((n & 0xff) % 254)}`;
}

export function credentialOf(i: number): string {
  // looks like a plugin fingerprint: 16 hex digits
  return (
    (Math.imul(i + 7, 0x27d4eb2d) >>> 0).toString(16).padStart(8, '0') + (Math.imul(i + 13, 0x165667b1) >>> 0).toString(16).padStart(8, '0')
  );
}

export class Traffic {
  readonly #rand: () => number;
  readonly #o: Required<TrafficOptions>;

  constructor(o: TrafficOptions) {
    this.#o = {
      credentialPool: 20_000,
      services: 20,
      ipv6Share: 0.1,
      credentialShare: 0.4,
      failureShare: 0.03,
      baseTs: Date.now(),
      spreadMs: 1000,
      skew: 1.5,
      ...o,
    };
    this.#rand = prng(o.seed);
  }

  /** index into a pool of `n`, skewed toward 0 by `skew` */
  #pick(n: number): number {
    const u = this.#rand();
    return Math.min(n - 1, Math.floor(n * (this.#o.skew > 0 ? u ** (1 + this.#o.skew) : u)));
  }

  record(): SiemRecord {
    const o = this.#o;
    const r = this.#rand;
    const ipIndex = this.#pick(o.ipPool);
    const svc = this.#pick(o.services);
    const failure = r() < o.failureShare;
    const status = failure ? FAILURES[Math.floor(r() * FAILURES.length)] : SUCCESSES[Math.floor(r() * SUCCESSES.length)];
    const rec: SiemRecord = {
      ts: o.baseTs + Math.floor(r() * o.spreadMs),
      ip: ipOf(ipIndex, o.ipv6Share),
      status: status as number,
      service: `svc-${String(svc).padStart(2, '0')}`,
    };
    if (r() < o.credentialShare) {
      const c = this.#pick(o.credentialPool);
      rec.credential = credentialOf(c);
      rec.consumer = `consumer-${c}`;
    }
    rec.host = 'api.example.com';
    rec.route = `route-${svc}-${Math.floor(r() * 4)}`;
    rec.method = METHODS[Math.floor(r() * METHODS.length)] as string;
    rec.latency_ms = Math.floor(r() * 200);
    return rec;
  }

  records(n: number): SiemRecord[] {
    const out: SiemRecord[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = this.record();
    return out;
  }

  /** JSON bodies of POST /v1/records, `perBody` records each, `total` records in all. */
  bodies(total: number, perBody: number): string[] {
    const out: string[] = [];
    for (let done = 0; done < total; done += perBody) out.push(JSON.stringify({ records: this.records(Math.min(perBody, total - done)) }));
    return out;
  }
}

/**
 * The ingest mix the speed target is set for: the plugin's default batch of
 * 200, 80% of records with a credential, over 200k distinct keys (IP and
 * credential keys per service) in 400k records.
 */
export const INGEST_MIX = { batch: 200, records: 400_000, traffic: { seed: 12, ipPool: 1_000_000, credentialShare: 0.8 } } as const;

/** Distinct keys the state tracks for these bodies: (service, IP key) and (service, credential). */
export function distinctKeys(bodies: readonly string[], keyOf: (ip: string) => string | undefined): number {
  const seen = new Set<string>();
  for (const b of bodies) {
    for (const r of (JSON.parse(b) as { records: SiemRecord[] }).records) {
      seen.add(`${r.service}|${keyOf(r.ip)}`);
      if (r.credential) seen.add(`${r.service}#${r.credential}`);
    }
  }
  return seen.size;
}

/** Distinct `ip` values in JSON bodies (for reporting what the mix held). */
export function distinctIps(bodies: readonly string[]): number {
  const seen = new Set<string>();
  for (const b of bodies) for (const r of (JSON.parse(b) as { records: SiemRecord[] }).records) seen.add(r.ip);
  return seen.size;
}
