// Case 1's load generator: `connections` keep-alive connections, each posting
// the prebuilt bodies in turn for a given time. Own code rather than
// autocannon there: autocannon prepares its requests at every start (about
// 4 s for 2000 bodies of 200 records on this machine), which made short
// alternating blocks impossible and counted that setup in 8 s ones.
import http from 'node:http';
import { readFileSync } from 'node:fs';

export interface Posted {
  /** answers 2xx */
  ok: number;
  /** other answers and connection errors */
  bad: number;
  /** the body to start from next time (the bodies are gone through in turn across calls) */
  next: number;
}

function post(agent: http.Agent, url: URL, body: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: '/v1/records',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

/** POST /v1/records with `bodies` in turn from `start` on, over `connections` connections, for `seconds`. */
export async function postFor(base: string, bodies: readonly Buffer[], seconds: number, start = 0, connections = 8): Promise<Posted> {
  const url = new URL(base);
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const until = Date.now() + seconds * 1000;
  let i = start;
  const out: Posted = { ok: 0, bad: 0, next: start };
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (Date.now() < until) {
        const status = await post(agent, url, bodies[i++ % bodies.length] as Buffer);
        if (status >= 200 && status < 300) out.ok++;
        else out.bad++;
      }
    }),
  );
  agent.destroy();
  out.next = i % bodies.length;
  return out;
}

/** POST each of `bodies` once, over `connections` connections (a warm-up that leaves every key of them held). */
export async function postAll(base: string, bodies: readonly Buffer[], connections = 8): Promise<Posted> {
  const url = new URL(base);
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  let i = 0;
  const out: Posted = { ok: 0, bad: 0, next: 0 };
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (i < bodies.length) {
        const status = await post(agent, url, bodies[i++] as Buffer);
        if (status >= 200 && status < 300) out.ok++;
        else out.bad++;
      }
    }),
  );
  agent.destroy();
  return out;
}

/** CPU seconds (user + system, all threads) process `pid` has used: /proc/<pid>/stat, in clock ticks of 10 ms. */
export function procCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / 100;
}
