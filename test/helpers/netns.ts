// A network namespace for the firewall bouncer test (needs root and iproute2),
// and a way in for the test: a bridge process inside the namespace listens on
// a Unix socket and forwards each connection to 127.0.0.1:<port> there, so
// every byte stays on loopback and the host's own firewall sets are never
// touched. Everything started here is stopped by PID.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { createServer, connect } from 'node:net';

/** Fail (never skip) naming the reason and the fix. */
export function requireNetns(): void {
  if (process.getuid?.() !== 0) throw new Error('the firewall bouncer test needs root (network namespaces, ipset): run the tests as root');
  for (const [bin, pkg] of [
    ['ip', 'iproute2'],
    ['ipset', 'ipset'],
    ['crowdsec-firewall-bouncer', 'crowdsec-firewall-bouncer'],
  ] as const) {
    const r = spawnSync(bin, bin === 'ip' ? ['-V'] : bin === 'ipset' ? ['version'] : ['-V'], { encoding: 'utf8' });
    if (r.error) throw new Error(`${bin} not found: apt-get install -y ${pkg}`);
  }
}

export function sh(args: string[], ns?: string): string {
  const argv = ns ? ['netns', 'exec', ns, ...args] : args;
  const r = spawnSync(ns ? 'ip' : (argv[0] as string), ns ? argv : argv.slice(1), { encoding: 'utf8' });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${argv.join(' ')}: exit ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

export function createNetns(name: string): void {
  const r = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot create network namespace ${name} (ip netns add): ${r.stderr.trim() || r.error?.message}`);
  sh(['ip', 'link', 'set', 'lo', 'up'], name);
}

export function deleteNetns(name: string): void {
  spawnSync('ip', ['netns', 'del', name]);
}

/** Spawn `argv` inside the namespace; `ip netns exec` execs it, so the PID is the program's. */
export function spawnIn(ns: string, argv: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn('ip', ['netns', 'exec', ns, ...argv], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Members of an ipset, as the kernel lists them (hash:net shows a /32 or /128 as the bare address). */
export function ipsetMembers(ns: string, set: string): string[] {
  return sh(['ipset', 'save', set], ns)
    .split('\n')
    .filter((l) => l.startsWith(`add ${set} `))
    .map((l) => l.split(' ')[2] as string)
    .sort();
}

/** Body of the bridge process (run inside the namespace): unix socket -> 127.0.0.1:port. */
export function bridgeMain(socketPath: string, port: number): void {
  createServer((c) => {
    const up = connect(port, '127.0.0.1');
    c.pipe(up).pipe(c);
    const end = () => {
      c.destroy();
      up.destroy();
    };
    c.on('error', end);
    up.on('error', end);
  }).listen(socketPath);
}

/** An HTTP call through the bridge's Unix socket. */
export function viaSocket(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      { socketPath, method, path, headers: { ...headers, ...(payload ? { 'content-type': 'application/json' } : {}) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            /* keep text */
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${path}: no answer`)));
    req.end(payload);
  });
}

// only as `node netns.js <socket> <port>` (the test runner loads helpers with no arguments)
if (require.main === module && process.argv.length === 4) bridgeMain(process.argv[2] as string, Number(process.argv[3]));
