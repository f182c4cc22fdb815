// Case 2: records/s through parse + validation + detector state, no HTTP,
// against a JSON.parse-only loop over the same bodies in the same process.
import { ingestRecords } from '../../aggregator/routes/ingest';
import { coreDeps } from '../core-state';
import { ratioOf, type CaseOptions, type Row } from '../result';
import { Traffic } from '../traffic';
import { step } from '../progress';

const CASE = '2 core';

/** Loop over `bodies` for about `seconds`; returns records/s. */
async function loop(label: string, bodies: readonly string[], seconds: number, each: (body: string) => Promise<number> | number): Promise<number> {
  const s = step(label);
  const until = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  const t0 = process.hrtime.bigint();
  let records = 0;
  let now = t0;
  for (let i = 0; now < until; i++) {
    records += await each(bodies[i % bodies.length] as string);
    now = process.hrtime.bigint();
    if ((i & 63) === 0) s.tick(Math.round(Number(now - t0) / 1e9), seconds);
  }
  s.end();
  return records / (Number(now - t0) / 1e9);
}

export async function run(o: CaseOptions): Promise<Row[]> {
  const seconds = o.quick ? 2 : 6;
  const bodies = new Traffic({ seed: 1, ipPool: 1_000_000 }).bodies(o.quick ? 100_000 : 400_000, 1000);
  const deps = coreDeps();
  const core = async (body: string) => {
    const b = JSON.parse(body) as { records: unknown[] };
    return (await ingestRecords(deps, b.records)).accepted;
  };
  const parse = (body: string) => (JSON.parse(body) as { records: unknown[] }).records.length;
  await loop('core warm-up', bodies, 1, core);
  await loop('JSON.parse warm-up', bodies, 0.5, parse);
  const parseRate = await loop('JSON.parse loop', bodies, seconds, parse);
  const coreRate = await loop('core: parse + validate + state', bodies, seconds, core);
  return [
    {
      case: CASE,
      name: 'records/s, parse + validate + state',
      value: coreRate,
      unit: 'rec/s',
      baseline: { name: 'JSON.parse-only loop', value: parseRate },
      ratio: ratioOf(coreRate, parseRate),
      note: `bodies of 1000 records; ${seconds}s each`,
    },
  ];
}
