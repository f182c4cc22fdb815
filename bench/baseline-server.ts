// The transport ceiling of case 1: a minimal fastify route that only parses
// the same JSON bodies and counts records. Run as its own process, like the
// aggregator, with SIEM_HOST / SIEM_PORT; prints "listening <port>".
import Fastify from 'fastify';

async function main(): Promise<void> {
  const app = Fastify({ logger: false, bodyLimit: 5 * 1024 * 1024 });
  let records = 0;
  app.post<{ Body: { records: unknown[] } }>('/v1/records', async (req, reply) => {
    records += req.body.records.length;
    return reply.code(202).send({ accepted: req.body.records.length, rejected: 0 });
  });
  app.get('/count', async () => ({ records }));
  await app.listen({ host: process.env.SIEM_HOST ?? '127.0.0.1', port: Number(process.env.SIEM_PORT ?? 0) });
  const addr = app.server.address();
  process.stdout.write(`listening ${typeof addr === 'object' && addr ? addr.port : ''}\n`);
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
}

void main();
