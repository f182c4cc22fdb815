// Small pieces every loopback test and benchmark needs: a free port, and a
// bounded poll (tests wait for a condition, never for a fixed time).
import type http from 'node:http';
import net from 'node:net';

/** A port free on 127.0.0.1 right now (the caller binds it next). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr !== 'string' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** An HTTP server listening on 127.0.0.1 (`port` 0: any free one) */
export interface LoopbackServer {
  port: number;
  url: string;
  /** stops listening and ends open connections (a held or stalled exchange would keep close() waiting forever) */
  close(): Promise<void>;
}

/** Start `server` on 127.0.0.1:`port`. */
export async function listenLoopback(server: http.Server, port = 0): Promise<LoopbackServer> {
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  const p = (server.address() as net.AddressInfo).port;
  return {
    port: p,
    url: `http://127.0.0.1:${p}`,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** Poll `check` every `everyMs` until it holds; throws naming `what` after `timeoutMs`. Errors from `check` end the wait. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000, everyMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
