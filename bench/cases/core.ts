// Case 2: records/s through parse + validation + detector state, no HTTP,
// against a JSON.parse-only loop over the same bodies in the same process.
import { ingestRecords } from '../../aggregator/routes/ingest';
import { coreDeps } from '../core-state';
import { ratioOf, type CaseOptions, type Row } from '../result';
import { INGEST_MIX, Traffic } from '../traffic';
import { step } from '../progress';
import { FLOOR_ROW, KeyedFloor } from '../keyed-floor';

const CASE = '2 core';

type Each = (body: string) => Promise<number> | number;

/**
 * Alternate `a` and `b` over `bodies` in slices of SLICE_S, `seconds` each in
 * all, so that load from elsewhere on the machine hits both alike. Returns
 * records/s of each.
 */
async function alternate(label: string, bodies: readonly string[], seconds: number, a: Each, b: Each): Promise<[number, number]> {
  const SLICE_S = 0.25;
  const s = step(label);
  const recs = [0, 0];
  const ns = [0, 0];
  const fns = [a, b];
  let i = 0;
  const slices = Math.max(1, Math.round(seconds / SLICE_S));
  for (let k = 0; k < slices; k++) {
    for (const which of [0, 1]) {
      const fn = fns[which] as Each;
      const t0 = process.hrtime.bigint();
      const until = t0 + BigInt(Math.round(SLICE_S * 1e9));
      let now = t0;
      while (now < until) {
        recs[which] = (recs[which] as number) + (await fn(bodies[i++ % bodies.length] as string));
        now = process.hrtime.bigint();
      }
      ns[which] = (ns[which] as number) + Number(now - t0);
    }
    s.tick(k + 1, slices);
  }
  s.end();
  return [(recs[0] as number) / ((ns[0] as number) / 1e9), (recs[1] as number) / ((ns[1] as number) / 1e9)];
}

/** Core (parse + validate + state) alternated with a JSON.parse-only loop over the same bodies, fresh state. */
async function measure(bodies: readonly string[], seconds: number): Promise<{ core: number; parse: number; keys: number }> {
  const deps = coreDeps();
  const core = async (body: string) => {
    const b = JSON.parse(body) as { records: unknown[] };
    return (await ingestRecords(deps, b.records)).accepted;
  };
  const parse = (body: string) => (JSON.parse(body) as { records: unknown[] }).records.length;
  // every key of the bodies held first, as in case 1
  for (const body of bodies) await core(body);
  await alternate('warm-up', bodies, 1, core, parse);
  const [coreRate, parseRate] = await alternate(
    'core (parse + validate + state) alternated with a JSON.parse-only loop',
    bodies,
    seconds,
    core,
    parse,
  );
  return { core: coreRate, parse: parseRate, keys: (await deps.state.gauges()).trackedKeys };
}

/** The keyed floor (keyed-floor.ts) in process: JSON.parse and count each record's IP and credential, alternated with a JSON.parse-only loop. */
async function measureFloor(bodies: readonly string[], seconds: number): Promise<{ floor: number; parse: number; keys: number }> {
  const f = new KeyedFloor();
  const floor = (body: string) => {
    const rs = (JSON.parse(body) as { records: object[] }).records;
    f.count(rs);
    return rs.length;
  };
  const parse = (body: string) => (JSON.parse(body) as { records: unknown[] }).records.length;
  for (const body of bodies) floor(body);
  await alternate('warm-up', bodies, 1, floor, parse);
  const [floorRate, parseRate] = await alternate('keyed floor alternated with a JSON.parse-only loop', bodies, seconds, floor, parse);
  return { floor: floorRate, parse: parseRate, keys: f.keys };
}

export async function run(o: CaseOptions): Promise<Row[]> {
  const seconds = o.quick ? 2 : 6;
  const rows: Row[] = [];
  const mixBodies = new Traffic(INGEST_MIX.traffic).bodies(INGEST_MIX.records, INGEST_MIX.batch);
  const mix = await measure(mixBodies, seconds);
  rows.push({
    case: CASE,
    name: `records/s, parse + validate + state, batch ${INGEST_MIX.batch}, 80% with a credential`,
    value: mix.core,
    unit: 'rec/s',
    baseline: { name: 'JSON.parse-only loop', value: mix.parse },
    ratio: ratioOf(mix.core, mix.parse),
    note: `case 1's mix, every body applied once first; ${seconds}s each, alternated in 0.25 s slices; ${mix.keys} keys at the end`,
  });
  const fl = await measureFloor(mixBodies, seconds);
  rows.push({
    case: CASE,
    name: FLOOR_ROW,
    value: fl.floor,
    unit: 'rec/s',
    baseline: { name: 'JSON.parse-only loop', value: fl.parse },
    ratio: ratioOf(fl.floor, fl.parse),
    note: `case 1's keyed floor in process (each record's IP key and credential found and counted; no record validation, window, rule, recency or bound): what finding and counting the two entities costs beside JSON.parse alone; every body counted once first; ${seconds}s each, alternated in 0.25 s slices; ${fl.keys} keys`,
  });
  if (o.mixOnly) return rows;
  const plain = await measure(new Traffic({ seed: 1, ipPool: 1_000_000 }).bodies(o.quick ? 100_000 : 400_000, 1000), seconds);
  rows.push({
    case: CASE,
    name: 'records/s, parse + validate + state',
    value: plain.core,
    unit: 'rec/s',
    baseline: { name: 'JSON.parse-only loop', value: plain.parse },
    ratio: ratioOf(plain.core, plain.parse),
    note: `bodies of 1000 records, every body applied once first; ${seconds}s each, alternated in 0.25 s slices; ${plain.keys} keys at the end`,
  });
  return rows;
}
