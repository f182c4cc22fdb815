// A real Redis Cluster on loopback: three masters (redis-server
// --cluster-enabled yes), optionally one replica each, joined by
// `redis-cli --cluster create`. Each node in its own temporary directory,
// stopped by PID.
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requireRedisServer, waitFor } from './redis';

export interface ClusterNode {
  port: number;
  proc: ChildProcess;
}

export interface RunningCluster {
  nodes: ClusterNode[];
  /** SIEM_STATE for it: every node as a seed */
  url: string;
  /** the masters not marked failed, from CLUSTER NODES of a live node (async: the event loop keeps running) */
  masters(): Promise<{ port: number; id: string }[]>;
  /** stop one node (SIGKILL: a crash) */
  kill(port: number): Promise<void>;
  close(): Promise<void>;
}

function cli(port: number, ...args: string[]): string {
  const r = spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw new Error(`redis-cli: ${r.error.message} (apt-get install -y redis-tools)`);
  return r.stdout;
}

/** A node's cluster bus listens on its port + 10000 (redis-server's default cluster-port). */
const BUS_OFFSET = 10_000;

/**
 * `n` ports free on 127.0.0.1 whose bus ports are free too, all distinct.
 * freePort() one node at a time let the kernel hand out a port again before
 * the node spawned with it had bound it (the nodes start in parallel): two
 * back-to-back picks were equal 5 times in 20,000 here, and one was the
 * other's bus port once, which fails the cluster's start. Every pick stays
 * held until all are made.
 */
async function clusterPorts(n: number): Promise<number[]> {
  const held: net.Server[] = [];
  const hold = (port: number) =>
    new Promise<number | undefined>((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(undefined));
      srv.listen(port, '127.0.0.1', () => {
        held.push(srv);
        resolve((srv.address() as net.AddressInfo).port);
      });
    });
  const ports: number[] = [];
  try {
    for (let tries = 0; ports.length < n; tries++) {
      if (tries >= 20 * n) throw new Error(`no ${n} loopback ports with free bus ports (+${BUS_OFFSET})`);
      const port = await hold(0);
      if (port !== undefined && port + BUS_OFFSET <= 65_535 && (await hold(port + BUS_OFFSET)) !== undefined) ports.push(port);
    }
  } finally {
    await Promise.all(held.map((srv) => new Promise<void>((resolve) => srv.close(() => resolve()))));
  }
  return ports;
}

export async function startCluster(opts: { replicas?: number } = {}): Promise<RunningCluster> {
  requireRedisServer();
  const replicas = opts.replicas ?? 0;
  const count = 3 * (1 + replicas);
  const dir = mkdtempSync(path.join(tmpdir(), 'siem-cluster-'));
  const nodes: ClusterNode[] = [];
  const stopAll = async () => {
    await Promise.all(
      nodes.map(async (n) => {
        if (n.proc.exitCode !== null || n.proc.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => n.proc.once('exit', () => resolve()));
        n.proc.kill('SIGKILL');
        await exited;
      }),
    );
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of await clusterPorts(count)) {
      const d = path.join(dir, String(port));
      spawnSync('mkdir', ['-p', d]);
      const proc = spawn(
        'redis-server',
        // repl-diskless-sync-delay 0: a replica's first sync starts at once (the default waits 5 s for more replicas)
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          path.join(d, 'nodes.conf'),
          '--cluster-node-timeout',
          // with replicas: a fast failover (tested); without, a master marked failed only takes
          // the cluster down, which a node starved of CPU for a second on a loaded machine was
          replicas > 0 ? '1000' : '15000',
          '--save',
          '',
          '--appendonly',
          'no',
          '--repl-diskless-sync-delay',
          '0',
          '--dir',
          d,
          '--protected-mode',
          'no',
          '--loglevel',
          'warning',
        ],
        { stdio: ['ignore', 'ignore', 'ignore'] },
      );
      nodes.push({ port, proc });
    }
    for (const n of nodes) await waitFor(`cluster node ${n.port}`, async () => cli(n.port, 'PING').trim() === 'PONG');
    const out = spawnSync(
      'redis-cli',
      ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'],
      { encoding: 'utf8', timeout: 120_000 },
    );
    if (out.status !== 0) throw new Error(`redis-cli --cluster create failed: ${out.stdout}${out.stderr}`);
    const first = nodes[0] as ClusterNode;
    await waitFor(
      'cluster state ok',
      async () =>
        nodes.every((n) => cli(n.port, 'CLUSTER', 'INFO').includes('cluster_state:ok')) &&
        cli(first.port, 'CLUSTER', 'INFO').includes(`cluster_known_nodes:${count}`),
      30_000,
    );
    // A replica that has not finished its first sync holds no data and
    // refuses to take over ("Disconnected from master for longer than
    // allowed"): a failover test must not kill a master before that.
    if (replicas > 0)
      await waitFor(
        'every replica synced',
        async () =>
          nodes
            .filter((n) => cli(n.port, 'INFO', 'replication').includes('role:slave'))
            .every((n) => cli(n.port, 'INFO', 'replication').includes('master_link_status:up')) &&
          nodes.filter((n) => cli(n.port, 'INFO', 'replication').includes('role:slave')).length === 3 * replicas,
        60_000,
      );
  } catch (err) {
    await stopAll();
    throw err;
  }
  return {
    nodes,
    url: nodes.map((n) => `redis://127.0.0.1:${n.port}`).join(','),
    masters: async () => {
      const alive = nodes.find((n) => n.proc.exitCode === null && n.proc.signalCode === null) as ClusterNode;
      const out = await new Promise<string>((resolve, reject) =>
        execFile('redis-cli', ['-p', String(alive.port), 'CLUSTER', 'NODES'], { encoding: 'utf8', timeout: 10_000 }, (err, stdout) =>
          err ? reject(err) : resolve(stdout),
        ),
      );
      return out
        .split('\n')
        .filter((l) => l.includes('master') && !l.includes('fail'))
        .map((l) => {
          const [id, addr] = l.split(' ');
          return { id: id as string, port: Number((addr as string).split('@')[0]?.split(':')[1]) };
        });
    },
    kill: async (port) => {
      const n = nodes.find((x) => x.port === port);
      if (!n || n.proc.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => n.proc.once('exit', () => resolve()));
      n.proc.kill('SIGKILL');
      await exited;
    },
    close: stopAll,
  };
}
