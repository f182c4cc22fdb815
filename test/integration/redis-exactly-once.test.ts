// Exactly once on Redis: the real plugin (kong-js-pluginserver, its delivery
// queue and retries) sends through a load balancer alternating between two
// aggregators, both on one redis-server reached through a TCP proxy that
// drops their connections mid-batch: before a batch's script reaches Redis,
// and after it ran but before its answer came back. Every record must be
// counted once: a batch answered 503 changed nothing, and a batch stored
// whose answer was lost is recognised by its id when retried, whichever
// aggregator the retry reaches.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { kongLog } from '../helpers/kong-log-fixture';
import { dumpAllPlugins, kongConfig, mapConcurrent, schemaFields, startPluginServer, waitFor } from '../helpers/pluginserver';
import { metricValue, startAggregator } from '../helpers/aggregator';
import { startRedis } from '../helpers/redis';
import { startTcpCutter, type Cut } from '../helpers/tcp-cutter';
import { listenLoopback } from '../helpers/loopback';

/** An HTTP load balancer: each request to the next aggregator in turn; records what each answered. */
async function roundRobin(targets: string[]) {
  let next = 0;
  const answers: { status: number; duplicate: boolean }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const target = targets[next++ % targets.length] as string;
      try {
        const r = await fetch(`${target}${req.url}`, {
          method: req.method,
          headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
          body: Buffer.concat(chunks),
        });
        const text = await r.text();
        answers.push({ status: r.status, duplicate: text.includes('"duplicate":true') });
        res.writeHead(r.status, { 'content-type': 'application/json' }).end(text);
      } catch {
        res.writeHead(502).end();
      }
    });
  });
  return { ...(await listenLoopback(server)), answers };
}

test('Redis connections dropped mid-batch under the real plugin queue: every record counted once, across two aggregators', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  const CUTS = 24;
  let made = 0;
  // every second write script (a batch also reads by a script, never cut here; 2000 records are 40+ batches): cut before it runs, or after (its answer lost), in turn
  const cutter = await startTcpCutter(
    redis.port,
    (i): Cut => {
      if (made >= CUTS || i % 2 !== 1) return 'forward';
      made++;
      return made % 2 === 0 ? 'cut-answer' : 'cut-before';
    },
    { writesOnly: true },
  ); // a batch's read script (one per batch too) never counts as a cut
  t.after(() => cutter.close());
  const state = `redis://127.0.0.1:${cutter.port}/0`;
  const a = await startAggregator({ SIEM_CLOCK: 'event', SIEM_STATE: state });
  t.after(() => a.close());
  const b = await startAggregator({ SIEM_CLOCK: 'event', SIEM_STATE: state });
  t.after(() => b.close());
  await waitFor('both aggregators on Redis', async () =>
    (await Promise.all([a, b].map((x) => fetch(`${x.url}/healthz`).then((r) => r.ok)))).every(Boolean),
  );
  const lb = await roundRobin([a.url, b.url]);
  t.after(() => lb.close());

  const ps = await startPluginServer();
  t.after(() => ps.stop());
  const info = (await dumpAllPlugins()).infos.find((i) => i.Name === 'siem');
  assert.ok(info);
  const id = await ps.startInstance(
    kongConfig(schemaFields(info), { aggregator_url: lb.url, batch_max_size: 50, flush_interval_ms: 20, timeout_ms: 5000 }),
  );
  const N = 2000;
  const base = Date.now();
  await mapConcurrent(
    Array.from({ length: N }, (_, i) => kongLog({ startedAt: base + i, ip: `192.0.2.${i % 200}`, status: i % 5 === 0 ? 401 : 200 })),
    4,
    (log) => ps.logEvent(id, log),
  );
  const counted = async () => {
    const r = await fetch(`${a.url}/v1/top?service=orders&n=100`);
    // a 503 while the aggregator's Redis link comes back after the last cut: ask again
    if (!r.ok) return -1;
    const top = (await r.json()) as { items: { count: number }[]; other: number };
    return top.items.reduce((n, x) => n + x.count, 0) + top.other;
  };
  await waitFor(`all ${N} records delivered (${made} cuts)`, async () => made >= CUTS && (await counted()) >= N, 120_000);
  // a late duplicate would show here: settle, then count again
  await new Promise((r) => setTimeout(r, 500));
  const total = await counted();
  const failed = lb.answers.filter((x) => x.status >= 500).length;
  const duplicates = lb.answers.filter((x) => x.duplicate).length;
  t.diagnostic(
    `${N} records sent; ${cutter.cuts.before} connections cut before a batch's script ran, ${cutter.cuts.answer} after it ran (answer lost); ${failed} batches answered 5xx, ${duplicates} retries answered duplicate; counted ${total}`,
  );
  assert.equal(cutter.cuts.before + cutter.cuts.answer, CUTS);
  assert.ok(cutter.cuts.answer > 0 && failed > 0, 'both kinds of cut happened and batches were refused');
  assert.ok(duplicates > 0, 'a batch stored before its answer was lost came again and was recognised');
  assert.equal(total, N, 'every record counted once');
  const b2 = (await (await fetch(`${b.url}/v1/top?service=orders&n=100`)).json()) as { items: { count: number }[]; other: number };
  assert.equal(b2.items.reduce((n, x) => n + x.count, 0) + b2.other, N, 'the other aggregator counts the same');
  const received =
    (metricValue(await (await fetch(`${a.url}/metrics`)).text(), 'kong_siem_records_received_total') ?? 0) +
    (metricValue(await (await fetch(`${b.url}/metrics`)).text(), 'kong_siem_records_received_total') ?? 0);
  assert.ok(received >= N, `received ${received}`);
});
