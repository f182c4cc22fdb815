// Servers of case 1 as child processes pinned to their own core: the real
// aggregator (node <outDir>/aggregator/server.js) and the baseline route.
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { spawnNode } from './pin';
import { freePort } from '../test/helpers/loopback';

export { freePort };

export interface Child {
  url: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

async function waitReady(url: string, proc: ChildProcess, deadlineMs = 20_000): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode} before it was ready`);
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`server not ready at ${url} within ${deadlineMs} ms`);
}

export async function startChild(
  kind: 'aggregator' | 'baseline',
  outDir: string,
  core: number,
  env: Record<string, string> = {},
  nodeArgs: string[] = [],
): Promise<Child> {
  const port = await freePort();
  const script = kind === 'aggregator' ? path.join(outDir, 'aggregator', 'server.js') : path.join(outDir, 'bench', 'baseline-server.js');
  const proc = spawnNode(core, [...nodeArgs, script], {
    env: { ...process.env, SIEM_LOG_LEVEL: 'error', ...env, SIEM_HOST: '127.0.0.1', SIEM_PORT: String(port) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = () =>
    new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      const kill = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      proc.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      proc.kill('SIGTERM');
    });
  try {
    await waitReady(kind === 'aggregator' ? `${url}/healthz` : `${url}/count`, proc);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, proc, stop };
}

/** Records the server has taken in so far. */
export async function recordsSeen(kind: 'aggregator' | 'baseline', url: string): Promise<number> {
  if (kind === 'baseline') return ((await (await fetch(`${url}/count`)).json()) as { records: number }).records;
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = /^kong_siem_records_received_total (\d+(?:\.\d+)?(?:e\+\d+)?)$/m.exec(text);
  if (!m) throw new Error('kong_siem_records_received_total not in /metrics');
  return Number(m[1]);
}
