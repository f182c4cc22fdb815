// Labelled scenarios for the behavioural rules (issue 18), written for this
// project: attacks shaped like the ones CrowdSec's behavioural scenarios
// catch (bursts of 404s or 400s, basic-auth and form brute force, slow
// guessing, logins that answer a failure with 200) and benign traffic that
// must stay clean (office NATs, CGNAT pools, monitors, clients with a few
// 404s, mobile clients retrying, users mistyping a password). Every record
// ends by T; the labels are the IP keys each rule must flag at T.
import { prng } from './records';

export const T = 1_780_000_000_000;
const SEC = 1000;

export interface Rec {
  ts: number;
  ip: string;
  status: number;
  service: string;
  route?: string;
  outcome?: 'success' | 'failure';
  /** a credential's fingerprint, as the plugin sends it */
  credential?: string;
}

export type Rule = 'error_ip' | 'auth_bruteforce' | 'failure_spike' | 'credential_ips' | 'flood_ip';
export const RULES: readonly Rule[] = ['error_ip', 'auth_bruteforce', 'failure_spike', 'credential_ips', 'flood_ip'];

export interface Scenario {
  name: string;
  /** attack or benign */
  kind: 'attack' | 'benign';
  records: Rec[];
  /** rule -> keys (service|ip key, service|credential) it must flag at T; absent rules must flag nothing of this scenario */
  labels: Partial<Record<Rule, string[]>>;
}

const rnd = prng(18);

/** n records of `ip` spread over [from, to), jittered, statuses from `status`. */
function spread(
  n: number,
  from: number,
  to: number,
  ip: string,
  status: number | ((i: number) => number),
  extra: Partial<Rec> = {},
  service = 'api',
): Rec[] {
  const out: Rec[] = [];
  for (let i = 0; i < n; i++) {
    const ts = Math.floor(from + ((to - from) * (i + rnd() * 0.5)) / n);
    out.push({ ts, ip, status: typeof status === 'number' ? status : status(i), service, ...extra });
  }
  return out;
}

const key = (ip: string, service = 'api') => `${service}|${ip}`;

export function scenarios(): Scenario[] {
  const s: Scenario[] = [];
  // --- attacks
  s.push({
    name: 'basic-auth burst: 6 × 401 in 3 s',
    kind: 'attack',
    records: spread(6, T - 4 * SEC, T - 1 * SEC, '198.18.1.1', 401),
    labels: { auth_bruteforce: [key('198.18.1.1')] },
  });
  s.push({
    name: 'probe: 12 × 404 in 5 s',
    kind: 'attack',
    records: spread(12, T - 6 * SEC, T - 1 * SEC, '198.18.2.1', 404),
    labels: { error_ip: [key('198.18.2.1')] },
  });
  s.push({
    name: 'malformed requests: 11 × 400 in 8 s',
    kind: 'attack',
    records: spread(11, T - 9 * SEC, T - 1 * SEC, '198.18.2.2', 400),
    labels: { error_ip: [key('198.18.2.2')] },
  });
  s.push({
    name: 'forbidden-path scan: 10 × 403 in 4 s',
    kind: 'attack',
    records: spread(10, T - 5 * SEC, T - 1 * SEC, '198.18.2.3', 403),
    labels: { error_ip: [key('198.18.2.3')], auth_bruteforce: [key('198.18.2.3')] },
  });
  s.push({
    name: 'slow brute force: one 401 every 8 s for 10 min',
    kind: 'attack',
    records: spread(75, T - 600 * SEC, T, '198.18.3.1', 401),
    labels: { auth_bruteforce: [key('198.18.3.1')] },
  });
  s.push({
    name: 'credential stuffing: 40 × 401 and 2 successes in 50 s',
    kind: 'attack',
    records: [...spread(40, T - 50 * SEC, T, '198.18.3.2', 401), ...spread(2, T - 40 * SEC, T, '198.18.3.2', 200)],
    labels: { error_ip: [key('198.18.3.2')], auth_bruteforce: [key('198.18.3.2')] },
  });
  s.push({
    name: 'login answering 200 (success_statuses 302): 15 failed logins in 60 s',
    kind: 'attack',
    records: spread(15, T - 60 * SEC, T, '198.18.4.1', 200, { route: 'wp-login', outcome: 'failure' }, 'blog'),
    labels: { auth_bruteforce: [key('198.18.4.1', 'blog')] },
  });
  s.push({
    name: 'IPv6 guesser rotating addresses in one /64: 8 × 401 in 30 s',
    kind: 'attack',
    records: Array.from({ length: 8 }, (_, i) => ({
      ts: T - 30 * SEC + i * 3 * SEC,
      ip: `2001:db8:18:5::${(i + 1).toString(16)}`,
      status: 401,
      service: 'api',
    })),
    labels: { auth_bruteforce: [key('2001:db8:18:5::/64')] },
  });
  s.push({
    name: 'account turning bad: 12 successes, then 12 × 500 in the last 60 s',
    kind: 'attack',
    records: [...spread(12, T - 300 * SEC, T - 70 * SEC, '198.18.6.1', 200), ...spread(12, T - 58 * SEC, T, '198.18.6.1', 500)],
    labels: { failure_spike: [key('198.18.6.1')] },
  });
  s.push({
    name: 'shared credential: one key from 4 addresses in 4 min',
    kind: 'attack',
    records: [1, 2, 3, 4].map((n) => ({
      ts: T - 250 * SEC + n * 50 * SEC,
      ip: `198.18.7.${n}`,
      status: 200,
      service: 'api',
      credential: 'a7c1e0f29b3d4e66',
    })),
    labels: { credential_ips: [key('a7c1e0f29b3d4e66')] },
  });
  {
    // a flood on a small shop: 1200 requests in 50 s among its 40 customers' 800
    const r = spread(1200, T - 50 * SEC, T, '198.18.8.1', 200, {}, 'shop');
    for (let i = 0; i < 40; i++) r.push(...spread(20, T - 60 * SEC, T, `172.23.0.${i + 1}`, 200, {}, 'shop'));
    s.push({
      name: 'flood: 1200 requests in 50 s, 60% of a shop',
      kind: 'attack',
      records: r,
      labels: { flood_ip: [key('198.18.8.1', 'shop')] },
    });
  }

  // --- benign
  {
    // an office behind one NAT: 300 requests a minute for 5 min, expired sessions (2% 401) and stale links (3% 404)
    const r = spread(1500, T - 300 * SEC, T, '203.0.113.50', () => (rnd() < 0.02 ? 401 : rnd() < 0.03 ? 404 : 200));
    s.push({ name: 'office NAT: 1500 requests, 2% 401, 3% 404', kind: 'benign', records: r, labels: {} });
  }
  {
    // a CGNAT pool: 40 addresses, each ~100 requests a minute of many users, a few 401s and 404s each
    const r: Rec[] = [];
    for (let i = 0; i < 40; i++)
      r.push(...spread(100, T - 60 * SEC, T, `100.64.18.${i + 1}`, () => (rnd() < 0.06 ? 401 : rnd() < 0.05 ? 404 : 200)));
    // one address of the pool with a burst of users' expired tokens: 8 × 401 among 60 requests in a minute
    r.push(...spread(8, T - 60 * SEC, T, '100.64.18.200', 401), ...spread(52, T - 60 * SEC, T, '100.64.18.200', 200));
    s.push({ name: 'CGNAT pool: 41 addresses, 6% 401 and 5% 404 each; one with 8 × 401 of 60', kind: 'benign', records: r, labels: {} });
  }
  {
    // monitors: a health check every 10 s; a check of a protected endpoint (401 by design) every 15 s
    const r = [
      ...spread(60, T - 600 * SEC, T, '192.0.2.200', 200, { route: 'health' }),
      ...spread(40, T - 600 * SEC, T, '192.0.2.201', 401, { route: 'private' }),
    ];
    s.push({ name: 'monitors: health every 10 s, a 401-answering probe every 15 s', kind: 'benign', records: r, labels: {} });
  }
  {
    // 200 clients with a few 404s each (missing assets): 25 requests, 3-5 of them 404 within a few seconds
    const r: Rec[] = [];
    for (let i = 0; i < 200; i++) {
      const ip = `172.20.${i >> 8}.${i & 255}`;
      const at = T - Math.floor(rnd() * 50 * SEC) - 5 * SEC;
      r.push(...spread(3 + (i % 3), at, at + 4 * SEC, ip, 404), ...spread(20, T - 60 * SEC, T, ip, 200));
    }
    s.push({
      name: 'clients with a few 404s: 200 clients, 3-5 × 404 within 4 s among 20 successes',
      kind: 'benign',
      records: r,
      labels: {},
    });
  }
  {
    // mobile clients retrying: an expired token retried 4 times, then a refresh and work;
    // an outage: 5 × 503 with backoff, then success
    const r: Rec[] = [];
    for (let i = 0; i < 50; i++) {
      const ip = `10.77.${i >> 8}.${i & 255}`;
      const at = T - 60 * SEC + i * 200; // every record before T: the clock ends there
      r.push(
        ...spread(4, at, at + 3 * SEC, ip, 401),
        { ts: at + 3500, ip, status: 200, service: 'api', route: 'token' },
        ...spread(10, at + 4 * SEC, at + 40 * SEC, ip, 200),
      );
      r.push(
        ...[0, 1, 3, 7, 15].map((d) => ({ ts: at + d * 100, ip: `10.78.${i >> 8}.${i & 255}`, status: 503, service: 'api' })),
        ...spread(8, at + 2 * SEC, at + 30 * SEC, `10.78.${i >> 8}.${i & 255}`, 200),
      );
    }
    s.push({
      name: 'mobile clients retrying: 4 × 401 then a refresh; 5 × 503 with backoff then success',
      kind: 'benign',
      records: r,
      labels: {},
    });
  }
  {
    // people who mistype their password: up to 3 failed logins, then the right one
    const r: Rec[] = [];
    for (let i = 0; i < 100; i++) {
      const ip = `172.21.0.${i + 1}`;
      const at = T - 58 * SEC + i * 200;
      r.push(...spread(1 + (i % 3), at, at + 10 * SEC, ip, 200, { route: 'wp-login', outcome: 'failure' }, 'blog'), {
        ts: at + 11 * SEC,
        ip,
        status: 302,
        service: 'blog',
        route: 'wp-login',
        outcome: 'success',
      });
      r.push(
        ...spread(1 + (i % 3), at, at + 10 * SEC, `172.22.0.${i + 1}`, 401),
        ...spread(5, at + 11 * SEC, at + 30 * SEC, `172.22.0.${i + 1}`, 200),
      );
    }
    s.push({
      name: 'mistyped passwords: 1-3 failed logins then a success (200-answering form and 401 API)',
      kind: 'benign',
      records: r,
      labels: {},
    });
  }
  {
    // people on two devices: each credential from a home address and a phone, 2 IPs in 5 min
    const r: Rec[] = [];
    for (let i = 0; i < 30; i++) {
      const credential = `b${i.toString(16).padStart(15, '0')}`;
      r.push(
        ...spread(6, T - 280 * SEC, T - 150 * SEC, `172.24.0.${i + 1}`, 200, { credential }),
        ...spread(6, T - 120 * SEC, T, `172.25.0.${i + 1}`, 200, { credential }),
      );
    }
    s.push({ name: 'two devices: 30 credentials, each from 2 addresses in 5 min', kind: 'benign', records: r, labels: {} });
  }
  {
    // a busy partner integration: 900 requests a minute (under flood_min_requests), 15% of a service
    const r = spread(900, T - 60 * SEC, T, '192.0.2.150', 200, {}, 'partners');
    for (let i = 0; i < 50; i++) r.push(...spread(100, T - 60 * SEC, T, `172.26.0.${i + 1}`, 200, {}, 'partners'));
    s.push({ name: 'busy integration: 900 requests a minute, 15% of its service', kind: 'benign', records: r, labels: {} });
  }
  return s;
}

/** Precision and recall of one rule: found vs labelled entity keys (1 when there is nothing to find and nothing was found). */
export function score(
  found: ReadonlySet<string>,
  labelled: ReadonlySet<string>,
): { tp: number; fp: number; fn: number; precision: number; recall: number } {
  const tp = [...found].filter((k) => labelled.has(k)).length;
  const fp = found.size - tp;
  const fn = labelled.size - tp;
  return { tp, fp, fn, precision: found.size ? tp / found.size : 1, recall: labelled.size ? tp / labelled.size : 1 };
}
