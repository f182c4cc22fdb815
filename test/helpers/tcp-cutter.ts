// A TCP proxy on loopback between aggregators and Redis that drops
// connections mid-batch: when a chunk from a client carries a script call
// (EVALSHA/EVAL; with `writesOnly`, only a batch's write script, the one on a
// group's ledger key `…:batches`), `decide` chooses to forward it, to cut
// before forwarding (the script never runs), or to forward it and cut when
// Redis answers (the script ran, its answer is lost).
import net from 'node:net';

export type Cut = 'forward' | 'cut-before' | 'cut-answer';

export interface TcpCutter {
  port: number;
  cuts: { before: number; answer: number };
  close(): Promise<void>;
}

export async function startTcpCutter(
  targetPort: number,
  decide: (scriptCall: number) => Cut,
  opts: { writesOnly?: boolean } = {},
): Promise<TcpCutter> {
  const sockets = new Set<net.Socket>();
  const cuts = { before: 0, answer: 0 };
  let calls = 0;
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    sockets.add(client);
    sockets.add(upstream);
    let cutOnAnswer = false;
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (d) => {
      const text = d.toString('latin1');
      if (/\r\n(EVALSHA|EVAL|evalsha|eval)\r\n/.test(text) && (!opts.writesOnly || /:batches\r\n/.test(text))) {
        const what = decide(calls++);
        if (what === 'cut-before') {
          cuts.before++;
          return cut();
        }
        if (what === 'cut-answer') cutOnAnswer = true;
      }
      upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (cutOnAnswer) {
        cuts.answer++;
        return cut();
      }
      client.write(d);
    });
    for (const s of [client, upstream]) {
      s.on('error', () => cut());
      s.on('close', () => {
        sockets.delete(s);
        cut();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    cuts,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
