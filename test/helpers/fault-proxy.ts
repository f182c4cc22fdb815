// Fault injection for the plugin-faults tests: an HTTP proxy in front of an
// aggregator that fails each POST in a chosen way (a lost answer, a held or
// stalled body, a reset), recording what it saw.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { gunzipSync } from 'node:zlib';
import { listenLoopback } from './loopback';
import type { RecordingAggregator } from './pluginserver';

/** What the fault proxy does with one POST: forward it, or fail it one way. */
export type Fault =
  /** relay to the aggregator behind and relay its answer */
  | 'forward'
  /** read the body, never answer: only the sender's timeout ends the exchange */
  | 'hold'
  /** answer 202 headers and part of the body, then nothing more (a trickling server) */
  | 'stall'
  /** read the body, then reset the connection without an answer (an aggregator dying mid-batch) */
  | 'reset'
  /** relay to the aggregator (which stores the batch), then reset instead of answering: the answer is lost */
  | 'lose-answer'
  /** answer this status, store nothing */
  | number;

export interface ProxiedRequest {
  fault: Fault;
  body: RecordingAggregator['requests'][number]['body'];
  /** performance.now() when the whole body had arrived */
  atMs: number;
  /** performance.now() when the connection closed without a complete answer (the sender gave up, or a reset) */
  abandonedMs?: number;
  /** the aggregator's answer to a forwarded request (also when it was then lost on the way back) */
  answer?: { status: number; body: unknown };
}

export interface FaultProxy {
  port: number;
  url: string;
  /** every request, in arrival order */
  requests: ProxiedRequest[];
  close(): Promise<void>;
}

/**
 * A loopback HTTP server in front of a real aggregator (`target`, may be
 * undefined when no request is forwarded): `fault(i)` decides what happens to
 * the i-th request (0-based). Gzipped bodies are forwarded as they came.
 */
export async function startFaultProxy(target: string | undefined, fault: (index: number) => Fault, port = 0): Promise<FaultProxy> {
  const requests: ProxiedRequest[] = [];
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const json = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
      const f = fault(requests.length);
      const entry: ProxiedRequest = {
        fault: f,
        body: JSON.parse(json.toString('utf8')) as ProxiedRequest['body'],
        atMs: performance.now(),
      };
      requests.push(entry);
      res.on('close', () => {
        if (!res.writableFinished && entry.abandonedMs === undefined) entry.abandonedMs = performance.now();
      });
      if (typeof f === 'number') {
        res.writeHead(f, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `injected ${f}` }));
      } else if (f === 'hold') {
        // nothing: the sender must give up
      } else if (f === 'stall') {
        res.writeHead(202, { 'content-type': 'application/json', 'content-length': 64 });
        res.write('{"accepted":');
      } else if (f === 'reset') {
        req.socket.resetAndDestroy();
      } else {
        if (!target) throw new Error('fault proxy: nothing to forward to');
        const up = http.request(
          new URL(req.url ?? '/', target),
          { method: req.method, headers: { ...req.headers, host: new URL(target).host }, agent: false },
          (upRes) => {
            const body: Buffer[] = [];
            upRes.on('data', (c: Buffer) => body.push(c));
            upRes.on('end', () => {
              const text = Buffer.concat(body).toString('utf8');
              try {
                entry.answer = { status: upRes.statusCode ?? 0, body: JSON.parse(text) as unknown };
              } catch {
                entry.answer = { status: upRes.statusCode ?? 0, body: text };
              }
              if (f === 'lose-answer') req.socket.resetAndDestroy();
              else
                res
                  .writeHead(upRes.statusCode ?? 502, { 'content-type': upRes.headers['content-type'] ?? 'application/json' })
                  .end(Buffer.concat(body));
            });
          },
        );
        up.on('error', () => req.socket.resetAndDestroy());
        up.end(raw);
      }
    });
  });
  srv.on('clientError', (_err, socket) => socket.destroy());
  return { ...(await listenLoopback(srv, port)), requests };
}
