// The transport ceiling of case 1: a minimal fastify route that only parses
// the same JSON bodies and counts records. Run as its own process, like the
// aggregator, with SIEM_HOST / SIEM_PORT; prints "listening <port>".
// With SIEM_BENCH_KEYED=1 it is the keyed floor instead (keyed-floor.ts):
// the same route also counts each record's IP and credential.
import Fastify from 'fastify';
import { KeyedFloor, type FloorRecord } from './keyed-floor';

async function main(): Promise<void> {
  const app = Fastify({ logger: false, bodyLimit: 5 * 1024 * 1024 });
  let records = 0;
  const floor = process.env.SIEM_BENCH_KEYED === '1' ? new KeyedFloor() : undefined;
  app.post<{ Body: { records: FloorRecord[] } }>('/v1/records', async (req, reply) => {
    const rs = req.body.records;
    records += rs.length;
    floor?.count(rs);
    return reply.code(202).send({ accepted: rs.length, rejected: 0 });
  });
  app.get('/count', async () => ({ records, keys: floor?.keys ?? 0 }));
  await app.listen({ host: process.env.SIEM_HOST ?? '127.0.0.1', port: Number(process.env.SIEM_PORT ?? 0) });
  const addr = app.server.address();
  process.stdout.write(`listening ${typeof addr === 'object' && addr ? addr.port : ''}\n`);
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
}

void main();
