// The memory sweep steps a credential candidate when its rules may stop
// holding (aggregator/state/memory/credential-due.ts), not at every tick: runs
// must still end at the same sweeps as stepping every candidate every tick.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MemoryState } from '../../aggregator/state/memory/state';
import { createClock } from '../../aggregator/clock';
import { DEFAULT_SETTINGS } from '../../common/settings';
import { rec } from '../helpers/records';

const T0 = 1_700_000_000_000 - (1_700_000_000_000 % 60_000); // a minute boundary

const state = (credentialMaxIps = 100) => ({
  s: new MemoryState({
    clock: createClock('event'),
    defaults: DEFAULT_SETTINGS,
    maxKeys: 10_000,
    maxServices: 10,
    maxFindings: 1000,
    credentialMaxIps,
  }),
});

// A credential qualifying again by one record after its run lapsed starts a
// new run: the lapse is seen at the first sweep past it (or past a settings
// change that brings it forward).
for (const how of ['by time', 'by a shorter window'] as const)
  test(`a credential_ips run ends at the first sweep after it stops holding (${how})`, async () => {
    const { s } = state();
    // the oldest IP leaves the window at T0 + `out`
    const out = how === 'by time' ? 60_000 : 40_000;
    const window = how === 'by time' ? 60 : 600;
    assert.deepEqual(await s.applySettings({ orders: { credential_min_ips: 3, credential_window_seconds: window } }), []);
    const seen = (t: number, ip: string) => s.apply([rec(t, ip, 200, 'orders', 'K')]);
    // the event clock moves with records of an IP without a credential
    const tick = async (t: number) => {
      await s.apply([rec(t, '192.0.2.1', 200)]);
      await s.sweep();
    };
    await seen(T0, '10.0.0.1');
    await seen(T0 + 1_000, '10.0.0.2');
    await seen(T0 + 2_000, '10.0.0.3');
    assert.equal((await s.findings({ type: 'credential_ips' }))[0]?.since, T0 + 2_000);
    for (let t = T0 + 3_000; t < T0 + out; t += 1_000) await tick(t);
    if (how === 'by a shorter window')
      assert.deepEqual(await s.applySettings({ orders: { credential_min_ips: 3, credential_window_seconds: 40 } }), []);
    await tick(T0 + out + 200);
    assert.deepEqual(await s.findings({ type: 'credential_ips' }), []);
    // one more IP: three in the window again, a new run
    await seen(T0 + out + 500, '10.0.0.4');
    const again = await s.findings({ type: 'credential_ips' });
    assert.equal(again.length, 1);
    assert.equal(again[0]?.since, T0 + out + 500, 'the run that ended is not carried on');
  });

test('credential runs stepped when due end at the same sweeps as stepping every candidate at every sweep (late records, a small IP cap)', async () => {
  // the reference gets a settings change before every sweep (top_n toggled, no rule reads it):
  // that steps every credential candidate at that sweep, as the sweep did before candidates were filed by time
  const mk = () => state(3).s;
  const base = { credential_min_ips: 2, credential_window_seconds: 20 };
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.record({
          dt: fc.integer({ min: 0, max: 6_000 }),
          late: fc.integer({ min: 0, max: 25_000 }),
          ip: fc.integer({ min: 1, max: 6 }),
          credential: fc.constantFrom('k1', 'k2'),
        }),
        { minLength: 5, maxLength: 60 },
      ),
      async (steps) => {
        const due = mk();
        const every = mk();
        for (const st of [due, every]) assert.deepEqual(await st.applySettings({ orders: { ...base, top_n: 10 } }), []);
        let clock = T0;
        for (let i = 0; i < steps.length; i++) {
          const x = steps[i] as (typeof steps)[number];
          clock += x.dt;
          // the event clock moves with a record of an IP without a credential; the credential's record may be late
          const recs = [rec(clock, '192.0.2.1', 200), rec(clock - x.late, `10.0.0.${x.ip}`, 200, 'orders', x.credential)];
          await due.apply(recs);
          await every.apply(recs);
          assert.deepEqual(await every.applySettings({ orders: { ...base, top_n: 10 + (i % 2 ? 0 : 1) } }), []);
          await due.sweep();
          await every.sweep();
          assert.deepEqual(await due.findings({ type: 'credential_ips' }), await every.findings({ type: 'credential_ips' }), `step ${i}`);
        }
      },
    ),
    {
      numRuns: 300,
      seed: 7,
      // found by 5,000 runs when candidates at their IP cap were filed like the others: two late
      // records push out the pairs the rule counted, and its time comes before the one filed
      examples: [
        [
          [
            { dt: 0, late: 0, ip: 3, credential: 'k1' },
            { dt: 0, late: 19001, ip: 4, credential: 'k1' },
            { dt: 0, late: 0, ip: 2, credential: 'k1' },
            { dt: 0, late: 14544, ip: 1, credential: 'k1' },
            { dt: 3903, late: 0, ip: 1, credential: 'k2' },
            { dt: 1553, late: 0, ip: 1, credential: 'k2' },
            { dt: 0, late: 0, ip: 1, credential: 'k1' },
            { dt: 0, late: 0, ip: 1, credential: 'k1' },
          ],
        ],
      ],
    },
  );
});

test('a candidate that reaches its IP cap is stepped at every sweep: late IPs pushing out the counted ones end its run on time', async () => {
  const { s } = state(5);
  const T = T0 + 400_000;
  const seen = (t: number, ip: string) => s.apply([rec(t, ip, 200, 'orders', 'K')]);
  // three IPs at T: a candidate (credential_min_ips 3, 300 s window), due at T + 300 s
  for (const ip of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) await seen(T, ip);
  assert.equal((await s.findings({ type: 'credential_ips' }))[0]?.since, T);
  // late records: two more IPs fill the cap of 5, three more push out .1, .2 and .3 (used first)
  await seen(T - 250_000, '10.0.0.4');
  await seen(T - 250_000, '10.0.0.5');
  await seen(T - 100_000, '10.0.0.6');
  await seen(T - 100_000, '10.0.0.7');
  await seen(T - 200_000, '10.0.0.8');
  // the third newest is now T - 200 s: the rule stops holding at T + 100 s
  for (let t = T + 1_000; t <= T + 150_000; t += 1_000) {
    await s.apply([rec(t, '192.0.2.1', 200)]);
    await s.sweep();
  }
  assert.deepEqual(await s.findings({ type: 'credential_ips' }), []);
  await seen(T + 150_500, '10.0.0.8');
  assert.equal((await s.findings({ type: 'credential_ips' }))[0]?.since, T + 150_500, 'a new run, not the one that lapsed at T + 100 s');
});
