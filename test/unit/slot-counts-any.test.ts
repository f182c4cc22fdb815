// SlotCounts.any, the sweep's test of whether a top candidate's window still
// holds anything: the same answer as summing the window (ip(w) above 0), for
// histories inline and spilled, entries inside, before and after the window,
// entries of zero counts (a restored history may hold them), and a slot of
// another service.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { IpSlots } from '../../aggregator/state/memory/ip-slots';
import { ServiceState, SlotCounts } from '../../aggregator/state/memory/service';
import { keyOf } from '../../aggregator/state/level-grid';
import { WINDOW_COUNT, type WindowId } from '../../aggregator/state/layout';
import { DEFAULT_SETTINGS } from '../../common/settings';

const NOW = 1_717_000_000_000;

const entryArb = fc.record({
  back: fc.integer({ min: -5, max: 700 }),
  requests: fc.integer({ min: 0, max: 3 }),
  failures: fc.integer({ min: 0, max: 3 }),
});

test('any(w, field) is whether the window sum of requests or failures is above 0', () => {
  let spilled = 0;
  let held = 0;
  fc.assert(
    fc.property(fc.array(entryArb, { maxLength: 12 }), fc.integer({ min: 0, max: 5_000 }), fc.boolean(), (entries, dnow, other) => {
      const slots = new IpSlots(4);
      let gens = 0;
      const svc = new ServiceState('svc', 0, DEFAULT_SETTINGS, () => gens++, slots);
      const slot = slots.alloc('k', other ? svc.gen + 1 : svc.gen, NOW);
      const byKey = new Map<number, [number, number]>();
      for (const e of entries) {
        const key = keyOf(1, Math.floor(NOW / 1000) - e.back);
        const [r, f] = byKey.get(key) ?? [0, 0];
        byKey.set(key, [r + e.requests, f + Math.min(e.failures, e.requests)]);
      }
      const series: number[] = [];
      for (const [key, [r, f]] of [...byKey].sort((a, b) => a[0] - b[0])) series.push(key, r, f, r - f, 0);
      slots.setSeries(slot, series);
      if (slots.spillBytesOf(slot) > 0) spilled++;
      const cx = new SlotCounts(slots);
      const now = NOW + dnow;
      for (let w = 0; w < WINDOW_COUNT; w++) {
        const sum = cx.at(svc, slot, now).ip(w as WindowId);
        assert.equal(cx.at(svc, slot, now).any(w as WindowId, 1), sum.requests > 0, `window ${w} requests`);
        assert.equal(cx.at(svc, slot, now).any(w as WindowId, 2), sum.failures > 0, `window ${w} failures`);
        if (sum.requests > 0) held++;
      }
    }),
    { numRuns: 500 },
  );
  assert.ok(spilled > 100 && held > 100, `${spilled} spilled histories, ${held} windows holding requests`);
});
