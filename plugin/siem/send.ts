// One POST of a batch to the aggregator, classified for the queue: `ok`
// (2xx), `retry` (connection error, timeout, 5xx, 408, 429: the aggregator is
// away or busy, the batch is fine) or `reject` (any other status: the batch
// itself or the token is refused, and retrying would not help) — docs/configuration.md,
// "Delivery". Node's http with keep-alive agents: one socket per aggregator
// is reused across batches instead of a handshake per batch.
import http from 'node:http';
import https from 'node:https';
import { promisify } from 'node:util';
import { gzip as gzipCb, constants as zlibConstants } from 'node:zlib';

const gzip = promisify(gzipCb);

/** Bodies from this size on are gzipped; smaller ones are not worth the CPU. */
export const GZIP_MIN_BYTES = 16 * 1024;

const agents = {
  'http:': new http.Agent({ keepAlive: true, maxSockets: 4 }),
  'https:': new https.Agent({ keepAlive: true, maxSockets: 4 }),
};

export type SendOutcome = 'ok' | 'retry' | 'reject';

export interface SendResult {
  outcome: SendOutcome;
  status?: number;
  error?: string;
}

export interface SendRequest {
  endpoint: string;
  body: string;
  token?: string;
  timeoutMs: number;
}

export type Transport = (req: SendRequest) => Promise<SendResult>;

export function classify(status: number): SendOutcome {
  if (status >= 200 && status < 300) return 'ok';
  if (status >= 500 || status === 408 || status === 429) return 'retry';
  return 'reject';
}

export const postBatch: Transport = async ({ endpoint, body, token, timeoutMs }) => {
  const url = new URL(endpoint);
  let payload: Buffer = Buffer.from(body, 'utf8');
  const headers: Record<string, string | number> = { 'content-type': 'application/json' };
  if (payload.length >= GZIP_MIN_BYTES) {
    // Fastest level: the gateway's CPU is the scarce resource; JSON of records still shrinks ~5x.
    payload = await gzip(payload, { level: zlibConstants.Z_BEST_SPEED });
    headers['content-encoding'] = 'gzip';
  }
  headers['content-length'] = payload.length;
  if (token) headers.authorization = `Bearer ${token}`;
  const mod = url.protocol === 'https:' ? https : http;
  const agent = url.protocol === 'https:' ? agents['https:'] : agents['http:'];

  return new Promise<SendResult>((resolve) => {
    let settled = false;
    const done = (r: SendResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = mod.request(url, { method: 'POST', headers, agent }, (res) => {
      const status = res.statusCode ?? 0;
      // Drain the small answer so the socket goes back to the pool.
      res.resume();
      res.on('end', () => done({ outcome: classify(status), status }));
      res.on('error', (err) => done({ outcome: 'retry', status, error: err.message }));
    });
    // Total time of the exchange, not socket idle time: a trickling server must not hold the queue.
    const timer = setTimeout(() => {
      req.destroy(new Error(`timeout after ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (err) => done({ outcome: 'retry', error: err.message }));
    req.end(payload);
  });
};
