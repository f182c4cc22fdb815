// A real redis-server (Debian package `redis-server`) on a free loopback
// port, in its own temporary directory, stopped by PID.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, waitFor as pollUntil } from './loopback';

export interface RunningRedis {
  port: number;
  /** redis://127.0.0.1:<port>/0 */
  url: string;
  pid(): number | undefined;
  /** stop (SIGTERM, then wait for exit) */
  stop(): Promise<void>;
  /** start again on the same port and directory */
  start(): Promise<void>;
  /** stop and remove the directory */
  close(): Promise<void>;
}

/** Fail (not skip) with the package to install when redis-server is missing. */
export function requireRedisServer(): void {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error('redis-server not found: apt-get install -y redis-server');
}

/** One PING over a raw socket: true on +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once('error', () => done(false));
    sock.on('data', (d) => {
      buf += d.toString();
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
    sock.once('connect', () => sock.write('PING\r\n'));
  });
}

/**
 * Start redis-server on 127.0.0.1. `persist` turns on the append-only file
 * (fsync on every write) so that a restart keeps the data; otherwise nothing
 * is written to disk.
 */
export async function startRedis(opts: { persist?: boolean } = {}): Promise<RunningRedis> {
  requireRedisServer();
  const dir = mkdtempSync(path.join(tmpdir(), 'siem-redis-'));
  const port = await freePort();
  let child: ChildProcess | undefined;
  let stderr = '';
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--dir',
    dir,
    '--protected-mode',
    'no',
    '--daemonize',
    'no',
    '--loglevel',
    'warning',
  ];
  if (opts.persist) args.push('--appendonly', 'yes', '--appendfsync', 'always');
  else args.push('--appendonly', 'no');

  const start = async () => {
    const c = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    c.stderr?.on('data', (d) => {
      stderr += d.toString();
    });
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (c.exitCode !== null) throw new Error(`redis-server exited (${c.exitCode}): ${stderr}`);
      if (await ping(port)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    c.kill('SIGKILL');
    throw new Error(`redis-server did not answer on port ${port} within 10 s: ${stderr}`);
  };
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()));
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    pid: () => child?.pid,
    stop,
    start,
    close: async () => {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export { freePort };

/** Poll until `check` holds, at most `ms` (10 s by default here), every 20 ms. */
export function waitFor(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  return pollUntil(what, check, ms, 20);
}
