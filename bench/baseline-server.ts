// The transport ceiling of case 1: a minimal fastify route that only parses
// the same JSON bodies and counts records. Run as its own process, like the
// aggregator, with SIEM_HOST / SIEM_PORT; prints "listening <port>".
//
// With SIEM_BENCH_KEYED=1 it is the keyed floor instead: the same route also
// finds each record's two entities and counts into them (its service and
// IP: an IPv4 address as a number in an open-addressing table, an IPv6 one
// in a Map; its service and credential, when there is one, in a Map). That
// is the least a state keyed per IP and per credential does per record,
// with no window, no rule, no recency and no bound: what is left of the
// ceiling after it is all a real state can reach on the machine.
import Fastify from 'fastify';

interface Rec {
  service?: unknown;
  ip?: unknown;
  credential?: unknown;
}

/** An IPv4 address in dotted decimal as a number, else -1 (no validation: the traffic is the bench's own). */
function ipv4(s: string): number {
  let n = 0;
  let part = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      n = n * 256 + part;
      part = 0;
    } else if (c >= 48 && c <= 57) part = part * 10 + c - 48;
    else return -1;
  }
  return n * 256 + part;
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
    let h = (Math.imul(ip ^ service, 0x9e3779b1) >>> (32 - Ipv4Counts.BITS)) & mask;
    while (this.#keys[h] !== 0 && this.#keys[h] !== key) h = (h + 1) & mask;
    if (this.#keys[h] === 0) {
      this.#keys[h] = key;
      this.size++;
    }
    this.#counts[h] = (this.#counts[h] as number) + 1;
  }
}

async function main(): Promise<void> {
  const app = Fastify({ logger: false, bodyLimit: 5 * 1024 * 1024 });
  let records = 0;
  const keyed = process.env.SIEM_BENCH_KEYED === '1';
  const services = new Map<string, number>();
  const v4 = new Ipv4Counts();
  const others = new Map<string, { n: number }>();
  const count = (k: string) => {
    const e = others.get(k);
    if (e) e.n++;
    else others.set(k, { n: 1 });
  };
  app.post<{ Body: { records: Rec[] } }>('/v1/records', async (req, reply) => {
    const rs = req.body.records;
    records += rs.length;
    if (keyed)
      for (const r of rs) {
        const svc = String(r.service);
        let s = services.get(svc);
        if (s === undefined) services.set(svc, (s = services.size + 1));
        const ip = String(r.ip);
        const n = ipv4(ip);
        if (n >= 0) v4.add(s, n);
        else count(`${svc}|${ip}`);
        if (typeof r.credential === 'string') count(`${svc}#${r.credential}`);
      }
    return reply.code(202).send({ accepted: rs.length, rejected: 0 });
  });
  app.get('/count', async () => ({ records, keys: v4.size + others.size }));
  await app.listen({ host: process.env.SIEM_HOST ?? '127.0.0.1', port: Number(process.env.SIEM_PORT ?? 0) });
  const addr = app.server.address();
  process.stdout.write(`listening ${typeof addr === 'object' && addr ? addr.port : ''}\n`);
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
}

void main();
