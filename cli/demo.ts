// `npm run demo` / `kong-siem demo`: the aggregator in this process on
// 127.0.0.1, fed Kong http-log payloads of benign traffic with the five attack
// patterns, then the findings and the /metrics URL; unless --once, it keeps
// serving (the findings page's URL printed) until Ctrl-C. A new user sees the
// product work with nothing else installed. Traffic carries wall-clock
// timestamps, the spike's baseline successes backdated 95 s (within the
// longest window, so not late), so every pattern qualifies at once.
import type { Writable } from 'node:stream';
import { buildApp, type Siem } from '../aggregator/app';
import { loadConfig } from '../aggregator/config';
import type { Finding, TopList } from '../common/record';
import { fingerprint } from '../common/fingerprint';
import { ATTACK, kongLogObject, scenario } from './kong-traffic';

const HOST = '127.0.0.1';
const WAVE_EVERY_MS = 30_000;
/** spike attackers rotate between waves, so each wave's spike is fresh */
const SPIKE_IPS = ['192.0.2.77', '192.0.2.78', '192.0.2.79', '192.0.2.80', '192.0.2.81', '192.0.2.82', '192.0.2.83', '192.0.2.84'];
const BENIGN_PER_WAVE = 3000;
/** the top IP's requests per wave: over flood_min_requests (1000), about 40% of its service's */
export const FLOOD_REQUESTS = 1200;
/** log objects per POST, as http-log's queue batches them */
const BATCH = 500;

export interface DemoOptions {
  /** port to try first; busy -> any free port */
  port: number;
  /** print, then stop (tests) */
  once: boolean;
  out?: Writable;
}

async function start(port: number): Promise<{ siem: Siem; url: string; fellBack: boolean }> {
  // Only what the demo needs: a user's SIEM_* tokens or detection settings
  // must not make the demo fail to show its findings.
  const build = (p: number) => buildApp(loadConfig({ SIEM_HOST: HOST, SIEM_PORT: String(p), SIEM_LOG_LEVEL: 'error' }));
  let siem = build(port);
  let fellBack = false;
  try {
    await siem.app.listen({ host: HOST, port });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    await siem.app.close();
    siem = build(0);
    fellBack = true;
    await siem.app.listen({ host: HOST, port: 0 });
  }
  const addr = siem.app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('aggregator has no TCP address');
  return { siem, url: `http://${HOST}:${addr.port}`, fellBack };
}

async function post(url: string, body: unknown): Promise<void> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 202) throw new Error(`POST ${url}: ${res.status} ${await res.text()}`);
}

/** One wave: benign traffic of the last minute and the five attacks, posted as http-log would. */
export async function wave(url: string, n: number): Promise<number> {
  const requests = scenario({
    endMs: Date.now(),
    benign: BENIGN_PER_WAVE,
    spanMs: 60_000,
    seed: n + 1,
    spikeIp: SPIKE_IPS[n % SPIKE_IPS.length],
    floodRequests: FLOOD_REQUESTS,
  });
  for (let i = 0; i < requests.length; i += BATCH) {
    await post(`${url}/v1/kong-log`, requests.slice(i, i + BATCH).map(kongLogObject));
  }
  return requests.length;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
  return (await res.json()) as T;
}

function describe(f: Finding): string {
  switch (f.type) {
    case 'error_ip':
      return `error_ip        ${f.service}  ${f.ip}  ${f.count} failures, ${Math.round(f.ratio * 100)}% of its requests in the ${f.window === 'burst' ? 'burst window' : 'window'}`;
    case 'credential_ips':
      return `credential_ips  ${f.service}  credential ${f.credential}  from ${f.count} IPs: ${f.ips.join(' ')}`;
    case 'failure_spike':
      return `failure_spike   ${f.service}  ${f.ip}  ${f.count} failures (${Math.round(f.ratio * 100)}%) after ${f.successes} successes`;
    case 'flood_ip':
      return `flood_ip        ${f.service}  ${f.ip}  ${f.count} requests, ${Math.round(f.ratio * 100)}% of the service's requests in the window`;
    case 'auth_bruteforce':
      return `auth_bruteforce ${f.service}  ${f.ip}  ${f.count} failed authentications, ${Math.round(f.ratio * 100)}% of its requests in the window`;
  }
}

/** Runs the demo; resolves with the exit code once stopped (at once with `once`). */
export async function demo(o: DemoOptions): Promise<number> {
  const out = o.out ?? process.stdout;
  const say = (s = '') => out.write(`${s}\n`);
  const { siem, url, fellBack } = await start(o.port);
  let stopped = false;
  try {
    // --once: the aggregator is gone when the demo exits, so no URL is printed that would not answer
    const where = o.once ? `an aggregator on port ${new URL(url).port} for the length of the demo` : `aggregator listening on ${url}`;
    say(`kong-siem demo: ${where}${fellBack ? ` (port ${o.port} was busy)` : ''}`);
    const played = await wave(url, 0);
    say(`played ${played} requests of Kong http-log payloads (benign traffic and five attacks) into POST ${o.once ? '' : url}/v1/kong-log`);
    say();

    // Ingest is applied before the 202, so one read would do; a bounded poll
    // keeps the demo honest should that ever change.
    const want = ['error_ip', 'credential_ips', 'failure_spike', 'flood_ip', 'auth_bruteforce'];
    let findings: Finding[] = [];
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
      findings = (await getJson<{ findings: Finding[] }>(`${url}/v1/findings`)).findings;
      if (want.every((t) => findings.some((f) => f.type === t))) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    // The list printed is the answer of the path cited, whole.
    const topPath = `/v1/top?service=${encodeURIComponent(ATTACK.service)}&n=3`;
    const top = await getJson<TopList>(`${url}${topPath}`);

    say(`(a) top IPs of service "${top.service}" in the last ${top.window_seconds} s (GET ${topPath}):`);
    for (const it of top.items) say(`      ${it.ip.padEnd(16)} ${it.count} requests`);
    say(`      other            ${top.other} requests`);
    say(`findings (GET /v1/findings):`);
    for (const f of findings) say(`      ${describe(f)}`);
    say();
    say(`The shared credential was "${ATTACK.sharedCredential}"; it is reported as its fingerprint:`);
    say(`      kong-siem fingerprint ${ATTACK.sharedCredential}   ->  ${fingerprint(ATTACK.sharedCredential)}`);
    if (!o.once) {
      say();
      say(`Prometheus metrics: ${url}/metrics`);
      say(`Findings as JSON:   ${url}/v1/findings`);
    }

    const ok = want.every((t) => findings.some((f) => f.type === t)) && top.items[0]?.ip === ATTACK.floodIp;
    if (!ok) say('demo: not every pattern was detected; this is a bug, please report it');
    if (o.once) return ok ? 0 : 1;

    say();
    say(`Findings page:      ${url}/   (open it in a browser; it refreshes itself)`);
    say(`Serving until Ctrl-C; a new wave of traffic every ${WAVE_EVERY_MS / 1000} s keeps the findings current.`);
    return await new Promise<number>((resolve) => {
      let n = 1;
      const timer = setInterval(() => {
        wave(url, n++).catch((err) => process.stderr.write(`demo: ${(err as Error).message}\n`));
      }, WAVE_EVERY_MS);
      const stop = () => {
        if (stopped) return;
        stopped = true;
        clearInterval(timer);
        resolve(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  } finally {
    await siem.app.close();
  }
}
