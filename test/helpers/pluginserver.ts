// A harness playing Kong's side of the external plugin protocol against the
// real `kong-js-pluginserver` (Kong/kong kong/runloop/plugin_servers/rpc/
// mp_rpc.lua): msgpack-rpc over a unix socket, one connection per call, one
// request `[0, id, method, [args]]`, one reply `[1, id, error, result]` read
// back. A log event is HandleEvent, then for every PDK call the plugin makes
// (`{Method, Args}`) Kong runs the method and answers with plugin.Step (or
// plugin.StepError), until the server answers "ret". The server decodes one
// frame per data chunk, so nothing is ever pipelined on a connection.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { encode, decodeMultiStream } from '@msgpack/msgpack';
import { loadConfig } from '../../aggregator/config';
import { buildApp, type Siem } from '../../aggregator/app';
import { freePort, waitFor } from './loopback';
import { spawnAggregator } from './aggregator';

export { freePort, waitFor };
export { startFaultProxy, type Fault, type FaultProxy, type ProxiedRequest } from './fault-proxy';

/** The compiled plugins directory: <outDir>/plugin, beside this file's <outDir>/test/helpers. */
export const PLUGINS_DIR = path.resolve(__dirname, '../../plugin');
export const PLUGINSERVER_BIN = path.join(path.dirname(require.resolve('kong-pdk/package.json')), 'bin', 'kong-js-pluginserver');

const CALL_TIMEOUT_MS = 10_000;
const MAX_STEPS_PER_EVENT = 50;

export interface PluginInfo {
  Name: string;
  Version: string;
  Priority: number;
  Phases: string[];
  Schema: { name: string; fields: Array<{ config: { type: string; fields: Array<Record<string, Record<string, unknown>>> } }> };
}

/** `kong-js-pluginserver --dump-all-plugins`, as Kong's _QUERY_CMD runs it; stdout must be JSON and nothing else. */
export function dumpAllPlugins(pluginsDir = PLUGINS_DIR): Promise<{ stdout: string; stderr: string; infos: PluginInfo[] }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [PLUGINSERVER_BIN, '-d', pluginsDir, '--dump-all-plugins'], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`dump failed: ${err.message}\n${stderr}`));
      try {
        resolve({ stdout, stderr, infos: JSON.parse(stdout) as PluginInfo[] });
      } catch (e) {
        reject(new Error(`--dump-all-plugins printed something other than JSON: ${(e as Error).message}\n${stdout}`));
      }
    });
  });
}

/** Schema fields of a dumped plugin, by name. */
export function schemaFields(info: PluginInfo): Map<string, Record<string, unknown>> {
  const fields = info.Schema.fields[0]?.config.fields ?? [];
  return new Map(fields.map((f) => Object.entries(f)[0] as [string, Record<string, unknown>]));
}

/**
 * The config Kong hands StartInstance: every schema field, defaults filled in
 * for unset ones, null where there is none, plus Kong's bookkeeping keys.
 */
export function kongConfig(fields: Map<string, Record<string, unknown>>, set: Record<string, unknown>, seq = 1): Record<string, unknown> {
  const conf: Record<string, unknown> = {};
  for (const [name, f] of fields) conf[name] = name in set ? set[name] : (f.default ?? null);
  for (const name of Object.keys(set)) if (!fields.has(name)) throw new Error(`no schema field ${name}`);
  return { ...conf, __seq__: seq, __plugin_id: `plugin-${seq}`, __key__: `plugins:siem:${seq}` };
}

/** What the harness answers to PDK calls of one event, and what it saw. */
export interface EventResult {
  /** PDK methods the plugin called during this event, in order */
  pdkCalls: string[];
}

export interface RunningPluginServer {
  pid: number;
  socket: string;
  /** everything the server wrote to stdout and stderr so far */
  output(): string;
  call(method: string, ...args: unknown[]): Promise<unknown>;
  startInstance(config: Record<string, unknown>, name?: string): Promise<number>;
  closeInstance(id: number): Promise<void>;
  /** One log event for a request whose serialized log object is `log`. */
  logEvent(instanceId: number, log: Record<string, unknown>): Promise<EventResult>;
  /** Send a signal and wait for the exit. */
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function rpcOnce(socket: string, msgId: number, method: string, args: unknown[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const conn = net.createConnection(socket);
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new Error(`${method}: no reply within ${CALL_TIMEOUT_MS} ms`));
    }, CALL_TIMEOUT_MS);
    const finish = (err: Error | null, value?: unknown) => {
      clearTimeout(timer);
      conn.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    conn.on('error', (err) => finish(err));
    conn.on('connect', () => {
      conn.write(encode([0, msgId, method, args]));
      (async () => {
        for await (const msg of decodeMultiStream(conn)) {
          const [type, id, error, result] = msg as [number, number, unknown, unknown];
          if (type !== 1 || id !== msgId) return finish(new Error(`${method}: unexpected reply ${JSON.stringify(msg)}`));
          if (error !== null && error !== undefined) return finish(new Error(String(error)));
          return finish(null, result);
        }
        finish(new Error(`${method}: connection closed without a reply`));
      })().catch((err) => finish(err as Error));
    });
  });
}

/** Kong's answers to the PDK calls a log-phase plugin may make, from the log object it saved for the timer. */
function answerPdk(log: Record<string, unknown>, method: string, args: unknown[]): unknown {
  const request = (log.request ?? {}) as Record<string, unknown>;
  const headers = (request.headers ?? {}) as Record<string, unknown>;
  switch (method) {
    case 'kong.log.serialize':
      return JSON.stringify(log);
    case 'kong.client.get_ip':
    case 'kong.client.get_forwarded_ip':
      return log.client_ip;
    case 'kong.request.get_header': {
      const v = headers[String(args[0]).toLowerCase()];
      return Array.isArray(v) ? v[0] : v;
    }
    case 'kong.request.get_headers':
      return headers;
    case 'kong.response.get_status':
      return (log.response as Record<string, unknown> | undefined)?.status;
    default:
      // kong.log.*, and anything unknown: Kong answers nil (and logs "could not find pdk method").
      return undefined;
  }
}

export async function startPluginServer(opts: { pluginsDir?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunningPluginServer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'siem-ps-'));
  const sockName = 'js_pluginserver.sock';
  const socket = path.join(dir, sockName);
  const child: ChildProcess = spawn(
    process.execPath,
    [PLUGINSERVER_BIN, '-d', opts.pluginsDir ?? PLUGINS_DIR, '-p', dir, '--sock-name', sockName],
    {
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  let msgId = 0;
  const call = (method: string, ...args: unknown[]) => rpcOnce(socket, ++msgId, method, args);

  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    // the plugin's own shutdown flush is bounded (5 s); past 30 s the server is stuck: kill it
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const r = await exited;
    clearTimeout(killer);
    rmSync(dir, { recursive: true, force: true });
    return r;
  };

  // Ready once the socket answers a call; bounded.
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`plugin server exited ${child.exitCode}:\n${out}`);
    try {
      await call('plugin.GetStatus');
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        await stop('SIGKILL');
        throw new Error(`plugin server not ready: ${(err as Error).message}\n${out}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  return {
    pid: child.pid as number,
    socket,
    output: () => out,
    call,
    async startInstance(config, name = 'siem') {
      const status = (await call('plugin.StartInstance', { Name: name, Config: JSON.stringify(config) })) as { Id: number };
      return status.Id;
    },
    async closeInstance(id) {
      await call('plugin.CloseInstance', id);
    },
    async logEvent(instanceId, log) {
      const pdkCalls: string[] = [];
      let step = (await call('plugin.HandleEvent', { InstanceId: instanceId, EventName: 'log' })) as { Data: unknown; EventId: number };
      const eventId = step.EventId;
      for (let i = 0; step.Data !== 'ret'; i++) {
        if (i >= MAX_STEPS_PER_EVENT) throw new Error(`event ${eventId}: more than ${MAX_STEPS_PER_EVENT} PDK calls`);
        const { Method, Args } = step.Data as { Method: string; Args: unknown[] };
        pdkCalls.push(Method);
        const data = answerPdk(log, Method, Args ?? []);
        step = (await call('plugin.Step', { EventId: eventId, Data: data })) as { Data: unknown; EventId: number };
      }
      return { pdkCalls };
    },
    stop,
  };
}

/** A real aggregator that also keeps every /v1/records request it received, as parsed. */
export interface RecordingAggregator extends Siem {
  url: string;
  port: number;
  requests: Array<{
    headers: Record<string, string | string[] | undefined>;
    body: { records: Record<string, unknown>[]; settings?: Record<string, Record<string, unknown>>; dropped?: number };
  }>;
  records(): Record<string, unknown>[];
  close(): Promise<void>;
}

export async function startRecordingAggregator(env: Record<string, string> = {}, port = 0): Promise<RecordingAggregator> {
  const config = loadConfig({ SIEM_LOG_LEVEL: 'silent', ...env, SIEM_HOST: '127.0.0.1', SIEM_PORT: '0' });
  const siem = buildApp(config);
  const requests: RecordingAggregator['requests'] = [];
  siem.app.addHook('preHandler', async (req) => {
    if (req.routeOptions.url === '/v1/records' && req.method === 'POST') {
      requests.push({ headers: { ...req.headers }, body: req.body as RecordingAggregator['requests'][number]['body'] });
    }
  });
  await siem.app.listen({ host: '127.0.0.1', port });
  const addr = siem.app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('aggregator has no TCP address');
  return {
    ...siem,
    url: `http://127.0.0.1:${addr.port}`,
    port: addr.port,
    requests,
    records: () => requests.flatMap((r) => r.body.records),
    close: () => siem.app.close(),
  };
}

/** A loopback TCP server that accepts and at once drops every connection, counting them: an aggregator that fails. */
export async function startDroppingServer(port = 0): Promise<{ port: number; connections(): number; close(): Promise<void> }> {
  let n = 0;
  const srv = net.createServer((s) => {
    n++;
    s.on('error', () => {});
    s.destroy();
  });
  await new Promise<void>((r) => srv.listen(port, '127.0.0.1', r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    connections: () => n,
    close: () => new Promise<void>((r) => srv.close(() => r())),
  };
}

/** Run `fn` over items with at most `n` at a time (Kong's workers run log timers concurrently). */
export async function mapConcurrent<T, R>(items: readonly T[], n: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  return out;
}

/** A real aggregator as its own process (`node <outDir>/aggregator/server.js`), so it can be frozen and killed. */
export interface AggregatorProcess {
  pid: number;
  port: number;
  url: string;
  output(): string;
  signal(sig: NodeJS.Signals): void;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL unless it has exited (works on a SIGSTOPped process too). */
  stop(): Promise<void>;
}

export async function startAggregatorProcess(port: number, env: Record<string, string> = {}): Promise<AggregatorProcess> {
  const p = spawnAggregator(undefined, { SIEM_LOG_LEVEL: 'warn', ...env }, port);
  const alive = () => p.child.exitCode === null && p.child.signalCode === null;
  const stop = async () => {
    if (alive()) p.child.kill('SIGKILL');
    await p.exited;
  };
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitFor(
      `aggregator process on ${url}`,
      async () => {
        if (!alive()) throw new Error(`aggregator process exited:\n${p.log()}`);
        try {
          return (await fetch(`${url}/healthz`)).status === 200;
        } catch {
          return false;
        }
      },
      15_000,
      50,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { pid: p.child.pid as number, port, url, output: p.log, signal: (sig) => p.child.kill(sig), exited: p.exited, stop };
}

/** Bytes waiting in the kernel on established loopback TCP sockets with `port` at either end (/proc/net/tcp, Linux). */
export function tcpQueuedBytes(port: number): { unreadByServer: number; unreadByClients: number; unsent: number } {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const r = { unreadByServer: 0, unreadByClients: 0, unsent: 0 };
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    // sl local rem st tx_queue:rx_queue ...; addresses are HEXIP:HEXPORT
    const [, local, remote, st, queues] = line.trim().split(/\s+/);
    if (!local || !remote || !queues || st !== '01') continue;
    const [tx, rx] = queues.split(':').map((h) => parseInt(h, 16)) as [number, number];
    if (local.endsWith(`:${hexPort}`)) {
      r.unreadByServer += rx;
      r.unsent += tx;
    } else if (remote.endsWith(`:${hexPort}`)) {
      r.unreadByClients += rx;
      r.unsent += tx;
    }
  }
  return r;
}
