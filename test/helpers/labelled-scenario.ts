// The labelled traffic scenario of test/integration/labelled-scenario.test.ts:
// a benign background of thousands of IPs, decoys just under each threshold,
// attacks well over, with the expected findings as labels. Shared by the
// tests that compare backends on it.
import { prng } from './records';

export const T = 1_717_800_000_000; // end of the scenario
export const SEC = 1000;

export interface Rec {
  ts: number;
  ip: string;
  status: number;
  service: string;
  credential?: string;
}

export function scenario(): {
  records: Rec[];
  labels: Record<'error_ip' | 'credential_ips' | 'failure_spike' | 'auth_bruteforce', Set<string>>;
} {
  const rnd = prng(42);
  const records: Rec[] = [];
  const add = (
    n: number,
    from: number,
    to: number,
    ip: string,
    status: number | (() => number),
    credential?: string,
    service = 'orders',
  ) => {
    for (let i = 0; i < n; i++) {
      const ts = Math.floor(from + ((to - from) * (i + rnd())) / n);
      const rec: Rec = { ts, ip, status: typeof status === 'number' ? status : status(), service };
      if (credential) rec.credential = credential;
      records.push(rec);
    }
  };
  const benignStatus = () => (rnd() < 0.03 ? (rnd() < 0.5 ? 404 : 500) : 200);

  // Background: 4000 IPv4 clients and 300 IPv6 clients over the last 10 minutes,
  // some with their own credential, on two services.
  for (let i = 0; i < 4000; i++) {
    const ip = `172.16.${i >> 8}.${i & 255}`;
    add(
      1 + Math.floor(rnd() * 5),
      T - 600 * SEC,
      T,
      ip,
      benignStatus,
      i % 4 === 0 ? `user-${i}` : undefined,
      i % 3 === 0 ? 'billing' : 'orders',
    );
  }
  for (let i = 0; i < 300; i++) add(2, T - 600 * SEC, T, `2001:db8:${i.toString(16)}:1::${(i * 7).toString(16)}`, benignStatus);
  // 40 devices in one IPv6 /64: one key with 80 requests, benign
  for (let i = 0; i < 40; i++) add(2, T - 50 * SEC, T, `2001:db8:ffff:1::${(i + 1).toString(16)}`, 200);
  // benign credentials used from two IPs (a phone switching networks)
  for (let i = 0; i < 50; i++) {
    add(2, T - 200 * SEC, T, `100.70.0.${i}`, 200, `mobile-${i}`);
    add(2, T - 200 * SEC, T, `100.71.0.${i}`, 200, `mobile-${i}`);
  }

  // Top talkers: 10 IPs with 400..850 requests in the last minute, 0.5% failures.
  for (let i = 0; i < 10; i++) add(400 + 50 * i, T - 55 * SEC, T, `203.0.113.${i + 1}`, () => (rnd() < 0.005 ? 500 : 200));
  // busy but healthy: 2% failures (60 failures >= error_min, ratio far below)
  add(3000, T - 55 * SEC, T, '198.51.100.200', () => (rnd() < 0.02 ? 503 : 200));

  // error_ip attacks: 50 failures + 5 successes in the last 50 s
  for (let i = 1; i <= 5; i++) {
    add(50, T - 50 * SEC, T, `192.0.2.${i}`, 401);
    add(5, T - 50 * SEC, T, `192.0.2.${i}`, 200);
  }
  // error_ip decoys: 19 failures; 25 failures at ratio 0.45; 60 failures 100-200 s ago
  add(19, T - 50 * SEC, T, '192.0.2.50', 401);
  add(25, T - 50 * SEC, T, '192.0.2.51', 403);
  add(31, T - 50 * SEC, T, '192.0.2.51', 200);
  add(60, T - 200 * SEC, T - 100 * SEC, '192.0.2.52', 401);

  // credential_ips attacks: 3 credentials each from 6 IPs in the last 4 minutes
  for (let c = 1; c <= 3; c++) for (let j = 0; j < 6; j++) add(2, T - 240 * SEC, T, `100.64.${c}.${j + 1}`, 200, `stolen-${c}`);
  // decoy: 5 IPs, but over 6 minutes ago (outside the 300 s window)
  for (let j = 0; j < 5; j++) add(1, T - 359 * SEC, T - 330 * SEC, `100.65.0.${j + 1}`, 200, 'old-cred');

  // failure_spike attacks: 8 successes 90-280 s ago, then 30 failures in the last 50 s
  for (let i = 1; i <= 3; i++) {
    add(8, T - 280 * SEC, T - 90 * SEC, `10.20.0.${i}`, 200);
    add(30, T - 50 * SEC, T - 5 * SEC, `10.20.0.${i}`, 401);
  }
  // spike decoys: 2 baseline successes (error_ip still: 30 failures); 9 failures; ratio 0.7
  add(2, T - 280 * SEC, T - 90 * SEC, '10.20.0.10', 200);
  add(30, T - 50 * SEC, T - 5 * SEC, '10.20.0.10', 401);
  add(8, T - 280 * SEC, T - 90 * SEC, '10.20.0.11', 200);
  add(9, T - 50 * SEC, T - 5 * SEC, '10.20.0.11', 401);
  add(8, T - 280 * SEC, T - 90 * SEC, '10.20.0.12', 200);
  add(14, T - 50 * SEC, T - 5 * SEC, '10.20.0.12', 401);
  add(6, T - 50 * SEC, T - 5 * SEC, '10.20.0.12', 200);

  // the clock ends at T
  records.push({ ts: T, ip: '172.31.0.1', status: 200, service: 'orders' });
  records.sort((a, b) => a.ts - b.ts);
  const labels = {
    error_ip: new Set(
      ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4', '192.0.2.5', '10.20.0.1', '10.20.0.2', '10.20.0.3', '10.20.0.10'].map(
        (ip) => `orders|${ip}`,
      ),
    ),
    credential_ips: new Set(['stolen-1', 'stolen-2', 'stolen-3'].map((c) => `orders|${c}`)),
    failure_spike: new Set(['10.20.0.1', '10.20.0.2', '10.20.0.3'].map((ip) => `orders|${ip}`)),
    // mostly 401/403 in the last 60 s: the error_ip attacks and the spikes (their
    // successes are older), 19 × 401 and 9 × 401 alike; not 25 of 56, not 14 of 20
    auth_bruteforce: new Set(
      [
        '192.0.2.1',
        '192.0.2.2',
        '192.0.2.3',
        '192.0.2.4',
        '192.0.2.5',
        '192.0.2.50',
        '10.20.0.1',
        '10.20.0.2',
        '10.20.0.3',
        '10.20.0.10',
        '10.20.0.11',
      ].map((ip) => `orders|${ip}`),
    ),
  };
  return { records, labels };
}
