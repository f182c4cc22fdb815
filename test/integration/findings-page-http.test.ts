// The findings page over HTTP (issue 17): its files and headers, and the
// read-only JSON it reads besides /v1/findings (/v1/overview, /v1/settings).
// What the page does with them is for a test in a real browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { SCREENSHOT, SCREENSHOT_MAX_BYTES } from '../../tools/screenshot';
import { REPO_ROOT } from '../helpers/paths';
import { CONTENT_SECURITY_POLICY } from '../../aggregator/routes/ui';
import { getJson, postJson, startAggregator } from '../helpers/aggregator';

const T0 = 1_717_799_280_000;

test('GET / and /ui/ serve the page with a strict CSP; its assets come from /ui/ on this origin only', async (t) => {
  const agg = await startAggregator();
  t.after(() => agg.close());
  for (const [path, prefix] of [
    ['/', 'ui/'],
    ['/ui/', ''],
  ] as const) {
    const res = await fetch(agg.url + path);
    assert.equal(res.status, 200, path);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.equal(csp, CONTENT_SECURITY_POLICY);
    for (const d of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"])
      assert.ok(csp.includes(d), d);
    assert.ok(!/unsafe-inline|unsafe-eval|https?:/.test(csp), csp);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    const html = await res.text();
    // no inline script or style, no absolute URL of anything
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/);
    assert.doesNotMatch(html, /\sstyle=|<style/);
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//);
    const refs = [...html.matchAll(/(?:src|href)="([^"#]+)"/g)].map((m) => m[1] as string);
    assert.deepEqual(new Set(refs), new Set([`${prefix}icon.svg`, `${prefix}page.css`, `${prefix}page.js`]));
    for (const ref of refs) {
      const a = await fetch(new URL(ref, agg.url + path));
      assert.equal(a.status, 200, ref);
      assert.equal(a.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY);
      const etag = a.headers.get('etag');
      assert.ok(etag);
      assert.equal((await fetch(new URL(ref, agg.url + path), { headers: { 'if-none-match': etag } })).status, 304);
    }
  }
  const js = await (await fetch(`${agg.url}/ui/page.js`)).text();
  assert.doesNotMatch(js, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
  const redirect = await fetch(`${agg.url}/ui`, { redirect: 'manual' });
  assert.equal(redirect.status, 301);
  assert.equal(redirect.headers.get('location'), 'ui/');
});

test('the page is public but its data is not: /v1/overview and /v1/settings need the read token', async (t) => {
  const agg = await startAggregator({ SIEM_READ_TOKEN: 'reader' });
  t.after(() => agg.close());
  assert.equal((await fetch(`${agg.url}/`)).status, 200);
  for (const path of ['/v1/overview', '/v1/settings', '/v1/findings']) {
    assert.equal((await getJson(agg.url + path)).status, 401, path);
    assert.equal((await getJson(agg.url + path, { authorization: 'Bearer wrong' })).status, 401, path);
    assert.equal((await getJson(agg.url + path, { authorization: 'Bearer reader' })).status, 200, path);
  }
});

test('/v1/overview: per-service top lists and window figures, ingest counters, tracked keys against the cap', async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event', SIEM_MAX_KEYS: '5000' });
  t.after(() => agg.close());
  const records = [];
  for (let i = 0; i < 30; i++) records.push({ ts: T0 + i, ip: '203.0.113.7', status: 500, service: 'orders' });
  for (let i = 0; i < 5; i++) records.push({ ts: T0 + i, ip: `198.51.100.${i}`, status: 200, service: 'orders' });
  records.push({ ts: T0, ip: '192.0.2.1', status: 200, service: 'billing' });
  records.push({ ts: T0, ip: 'not an ip', status: 200, service: 'orders' });
  records.push({ ts: T0, ip: '192.0.2.1', status: 999, service: 'orders' });
  assert.equal((await postJson(`${agg.url}/v1/records`, { records, dropped: 4 })).body.accepted, 36);
  const { status, body } = await getJson(`${agg.url}/v1/overview`);
  assert.equal(status, 200);
  assert.equal(typeof body.generated_at, 'number');
  assert.equal(body.records.received, 38);
  assert.equal(body.records.rejected.ip, 1);
  assert.equal(body.records.rejected.status, 1);
  assert.equal(body.records.rejected.late, 0);
  assert.equal(body.records.sender_dropped, 4);
  assert.deepEqual(body.records.ingest_refused, { '400': 0, '401': 0, '413': 0, '415': 0, '503': 0 });
  assert.equal((await postJson(`${agg.url}/v1/records`, '{"records": [')).status, 400);
  assert.equal((await getJson(`${agg.url}/v1/overview`)).body.records.ingest_refused['400'], 1);
  assert.deepEqual(body.keys, { tracked: 7, tracked_ips: 7, max: 5000 });
  const orders = body.services.find((s: { service: string }) => s.service === 'orders');
  assert.equal(orders.window_seconds, 60);
  assert.equal(orders.window_requests, 35);
  assert.equal(orders.unique_ips, 6);
  assert.deepEqual(orders.top_requests.items[0], { ip: '203.0.113.7', count: 30 });
  assert.equal(orders.top_requests.other, 0);
  assert.deepEqual(orders.top_errors.items, [{ ip: '203.0.113.7', count: 30 }]);
  assert.equal(orders.top_errors.by, 'errors');
  assert.deepEqual(body.services.map((s: { service: string }) => s.service).sort(), ['billing', 'orders']);
});

test("/v1/settings: the defaults and each service's settings in force, batch settings applied", async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event', SIEM_ERROR_MIN: '25' });
  t.after(() => agg.close());
  const batch = {
    settings: { orders: { error_min: 7, window_seconds: 30 } },
    records: [
      { ts: T0, ip: '192.0.2.1', status: 200, service: 'orders' },
      { ts: T0, ip: '192.0.2.1', status: 200, service: 'billing' },
    ],
  };
  assert.equal((await postJson(`${agg.url}/v1/records`, batch)).status, 202);
  const { status, body } = await getJson(`${agg.url}/v1/settings`);
  assert.equal(status, 200);
  assert.equal(body.source, 'batch');
  assert.equal(body.defaults.error_min, 25);
  assert.equal(body.services.orders.error_min, 7);
  assert.equal(body.services.orders.window_seconds, 30);
  assert.equal(body.services.billing.error_min, 25);
  assert.deepEqual(Object.keys(body.services).sort(), ['billing', 'orders']);
  assert.deepEqual(Object.keys(body.services.orders).sort(), Object.keys(body.defaults).sort());
});

test('the README shows the page: docs/findings-page.png, a PNG under the size limit that `npm run screenshot` enforces', () => {
  const png = readFileSync(SCREENSHOT);
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG');
  assert.ok(png.length <= SCREENSHOT_MAX_BYTES, `${png.length} bytes`);
  const width = png.readUInt32BE(16);
  assert.ok(width >= 800 && width <= 1600, `width ${width}`);
  assert.ok(readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8').includes('](docs/findings-page.png)'));
});
