// The findings page (issue 17) in a real browser: Debian's chromium, headless,
// against a real aggregator fed the demo's traffic (cli/demo.ts `wave`).
// Checks what an operator sees (findings in words against the thresholds,
// the charts with `other`, the ingest panel), that values from records stay
// text, the read-token prompt, and that nothing is loaded from elsewhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page, Request, Route } from 'playwright-core';
import { FLOOD_REQUESTS, wave } from '../../cli/demo';
import { ATTACK } from '../../cli/kong-traffic';
import { getJson, postJson, startAggregator, type RunningAggregator } from '../helpers/aggregator';
import { launchBrowser, type Browser } from '../helpers/browser';

const TIMEOUT = { timeout: 120_000 };

// Callbacks given to page.evaluate run in the browser. The project compiles
// without the DOM library (it is Node code), so the page's globals are
// declared here, untyped.
declare const document: any, location: any, sessionStorage: any;
type HTMLElement = any;

/** Every request the page makes, and every CSP complaint or script error. */
function watch(page: Page, origin: string) {
  const requests: string[] = [];
  const problems: string[] = [];
  page.on('request', (r: Request) => requests.push(r.url()));
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  return {
    requests,
    problems,
    foreign: () => requests.filter((u) => new URL(u).origin !== origin),
  };
}

async function rendered(page: Page, atLeast = 1): Promise<void> {
  await page.waitForFunction((n) => Number(document.documentElement.dataset.renders ?? 0) >= n, atLeast, { timeout: 30_000 });
}

async function withPage(
  t: { after(fn: () => Promise<void>): void },
  viewport?: { width: number; height: number },
): Promise<{ browser: Browser; page: Page }> {
  const browser = await launchBrowser(viewport);
  t.after(() => browser.close());
  const page = browser.context.pages()[0] ?? (await browser.context.newPage());
  return { browser, page };
}

/** The decisions table lists the API's decisions: value, scenario, why, time left. */
async function checkDecisions(page: Page, listed: { value: string; scenario: string; until: number }[]): Promise<void> {
  await page.locator('#service').selectOption('');
  await page.waitForFunction(() => !document.querySelector('#decisions-section').hidden);
  // decisions are derived on the aggregator's own tick: the page may have read
  // the listing one tick before the test did; its next refresh (5 s) catches up
  if (listed.length > 0) {
    await page
      .waitForFunction((n) => document.querySelectorAll('#decisions tbody tr').length === n, listed.length, { timeout: 20_000 })
      .catch(() => undefined); // the assertion below reports the difference
  }
  const rows = await page
    .locator('#decisions tbody tr')
    .evaluateAll((trs) => trs.map((tr) => Array.from(tr.children as ArrayLike<HTMLElement>, (c) => c.innerText.trim())));
  if (listed.length === 0) return assert.deepEqual(rows, [['none']]);
  assert.equal(rows.length, listed.length, JSON.stringify(rows));
  for (const d of listed) {
    const row = rows.find((r) => r[0] === d.value);
    assert.ok(row, `${d.value} listed`);
    assert.equal(row[1], d.scenario);
    const hours = Math.floor((d.until - Date.now()) / 3_600_000);
    // the page read the time left a moment earlier: it may be an hour's edge apart
    assert.match(row[4] ?? '', new RegExp(`^(${hours}|${hours + 1}) h \\d+ min$`), 'time left');
  }
}

async function demoAggregator(t: { after(fn: () => Promise<void>): void }, env: Record<string, string> = {}): Promise<RunningAggregator> {
  // The event clock stops with the last record: the page and the test's own
  // API reads see the same windows, however long the browser takes.
  const agg = await startAggregator({ SIEM_CLOCK: 'event', ...env });
  t.after(() => agg.close());
  // the demo posts without a token: SIEM_INGEST_TOKEN is never set here
  await wave(agg.url, 0);
  return agg;
}

test(
  "findings page on the demo's traffic: findings in words against the thresholds, strongest first; charts with other; ingest; nothing from elsewhere",
  TIMEOUT,
  async (t) => {
    const agg = await demoAggregator(t);
    const { page } = await withPage(t);
    const w = watch(page, agg.url);
    await page.goto(`${agg.url}/`);
    await rendered(page);
    const firstRenderMs = await page.evaluate(() => performance.getEntriesByName('kong-siem:first-render')[0]?.startTime ?? -1);
    assert.ok(firstRenderMs > 0, 'first render marked');
    t.diagnostic(`time to first render: ${Math.round(firstRenderMs)} ms after navigation start`);
    // the page's weight: its own files (not the API's answers), from Resource Timing
    const weight = await page.evaluate(() => {
      const perf: any = performance; // the browser's, with navigation and resource entries
      const entries: { name: string; encodedBodySize: number }[] = [
        ...perf.getEntriesByType('navigation'),
        ...perf.getEntriesByType('resource'),
      ];
      const assets = entries.filter((e) => !new URL(e.name).pathname.startsWith('/v1/'));
      return {
        requests: assets.length,
        bytes: assets.reduce((n, e) => n + e.encodedBodySize, 0),
        api: entries.length - assets.length,
        apiBytes: entries.filter((e) => new URL(e.name).pathname.startsWith('/v1/')).reduce((n, e) => n + e.encodedBodySize, 0),
      };
    });
    t.diagnostic(
      `page weight: ${weight.bytes} bytes in ${weight.requests} requests; first data: ${weight.api} API requests, ${weight.apiBytes} bytes`,
    );
    assert.ok(weight.requests <= 4 && weight.bytes > 10_000 && weight.bytes < 100_000, JSON.stringify(weight));

    // findings, in words, with the default thresholds
    const findings = await page.locator('li.finding').evaluateAll((els) =>
      els.map((e) => ({
        type: e.getAttribute('data-type'),
        text: (e as HTMLElement).innerText,
        strength: Number(/([\d.]+)× threshold/.exec((e as HTMLElement).innerText)?.[1]),
      })),
    );
    const api = (await getJson(`${agg.url}/v1/findings`)).body.findings as { type: string }[];
    assert.equal(findings.length, api.length, 'one entry per finding');
    assert.ok(findings.length >= 3);
    const errorIp = findings.find((f) => f.type === 'error_ip');
    assert.ok(errorIp, JSON.stringify(findings));
    assert.match(errorIp.text, new RegExp(ATTACK.errorIp.replace(/\./g, '\\.')));
    assert.match(errorIp.text, /60 failures, 94% of its requests in the last 60 s; rule: ≥ 20 and ≥ 50%/);
    assert.match(errorIp.text, /since \d\d:\d\d:\d\d \(\d+ s ago\)/);
    const cred = findings.find((f) => f.type === 'credential_ips');
    assert.ok(cred);
    assert.match(cred.text, /seen from 5 distinct IPs in the last 5 min; rule: ≥ 3 IPs/);
    for (const ip of ATTACK.sharedIps) assert.ok(cred.text.includes(ip), ip);
    const spike = findings.find((f) => f.type === 'failure_spike');
    assert.ok(spike);
    assert.match(
      spike.text,
      /15 failures, 100% of its requests in the last 60 s, after 8 successes in the 5 min before; rule: ≥ 3 successes, then ≥ 10 failures and ≥ 80%/,
    );
    const strengths = findings.map((f) => f.strength);
    assert.ok(
      strengths.every((s) => Number.isFinite(s)),
      JSON.stringify(findings),
    );
    assert.deepEqual(
      strengths,
      [...strengths].sort((a, b) => b - a),
      'strongest first',
    );
    assert.equal(errorIp.strength, 3, '60 failures against error_min 20');

    // the chart of orders by requests: the flooder first, `other` as the API says, bars to scale
    const top = (await getJson(`${agg.url}/v1/top?service=orders&by=requests`)).body;
    const chart = page.locator('table.chart[data-by="requests"]').first();
    const rows = await chart.locator('tbody tr').evaluateAll((trs) =>
      trs.map((tr) => ({
        label: (tr.querySelector('th') as HTMLElement).innerText.trim(),
        count: Number((tr.querySelectorAll('td.num')[0] as HTMLElement).innerText.replace(/,/g, '')),
        width: Number(tr.querySelector('rect')?.getAttribute('width')),
        href: tr.querySelector('a')?.getAttribute('href') ?? null,
      })),
    );
    assert.equal(rows.length, top.items.length + 1);
    assert.deepEqual(rows[0], {
      label: ATTACK.floodIp,
      count: FLOOD_REQUESTS,
      width: rows[0]?.width,
      href: `#service=orders&ip=${ATTACK.floodIp}`,
    });
    const other = rows[rows.length - 1];
    assert.deepEqual([other?.label, other?.count, other?.href], ['other', top.other, null]);
    const max = Math.max(...rows.map((r) => r.count));
    for (const r of rows) assert.ok(Math.abs(r.width - Math.max(r.count > 0 ? 0.5 : 0, (100 * r.count) / max)) < 0.01, JSON.stringify(r));
    assert.equal(await page.locator('table.chart[data-by="errors"] tbody tr').first().locator('th').innerText(), ATTACK.errorIp);

    // ingest: a second refresh gives a rate and a sparkline; keys against the cap
    await rendered(page, 2);
    const ingest = await page.locator('#ingest').innerText();
    assert.match(ingest, /Ingest\s+[\d.,]+\/s/);
    assert.match(ingest, /of 1,000,000/);
    assert.match(ingest, /records received in all/);
    assert.ok((await page.locator('#ingest svg.spark polyline').count()) >= 1);
    assert.match(await page.locator('#ingest table.rejections').innerText(), /late/);
    // a request refused whole (here malformed: 400) shows by status at a later refresh
    assert.doesNotMatch(ingest, /Refused ingest requests/);
    assert.equal((await postJson(`${agg.url}/v1/records`, '{"records": [')).status, 400);
    await page.waitForFunction(() =>
      (document.querySelector('#ingest') as HTMLElement | null)?.innerText.includes('Refused ingest requests'),
    );
    assert.match(await page.locator('#ingest').innerText(), /Refused ingest requests\s+1\s+by status: 400: 1/);

    // selecting a service and following an IP's link narrow the view
    await page.selectOption('#service', 'billing');
    await page.waitForFunction(() => location.hash === '#service=billing');
    await page.waitForFunction(
      () =>
        document.querySelectorAll('#top section.service-top').length === 1 &&
        (document.querySelector('#top h3') as HTMLElement).innerText.startsWith('billing'),
    );
    await page.selectOption('#service', 'orders');
    await page.waitForFunction(() => (document.querySelector('#top h3') as HTMLElement | null)?.innerText.startsWith('orders'));
    await page.locator(`li.finding[data-type="error_ip"] a.ip`).click();
    await page.waitForFunction((ip) => document.querySelector('#filter')?.textContent?.includes(`Showing IP ${ip}`), ATTACK.errorIp);
    const filtered = await page.locator('li.finding').evaluateAll((els) => els.map((e) => e.getAttribute('data-type')));
    assert.ok(filtered.includes('error_ip') && !filtered.includes('credential_ips'), JSON.stringify(filtered));
    assert.equal(await page.locator('tr.highlight').first().locator('th').innerText(), ATTACK.errorIp);

    // decisions: the demo's error_ip and failure_spike get automatic bans
    // (SIEM_DECISIONS' default); the page lists what the aggregator lists
    const decisions = await getJson(`${agg.url}/v1/admin/decisions`);
    assert.equal(decisions.status, 200);
    assert.ok(decisions.body.decisions.some((d: { value: string }) => d.value === ATTACK.errorIp));
    await checkDecisions(page, decisions.body.decisions);

    assert.deepEqual(w.foreign(), [], 'every request goes to the aggregator');
    assert.deepEqual(w.problems, []);
    const paths = new Set(w.requests.map((u) => new URL(u).pathname));
    for (const p of ['/', '/ui/page.js', '/ui/page.css', '/v1/overview', '/v1/findings', '/v1/settings']) assert.ok(paths.has(p), p);
  },
);

test(
  'values from records are text: a service named <img src=x onerror=alert(1)> and a hostile credential show as typed, nothing runs',
  TIMEOUT,
  async (t) => {
    const agg = await startAggregator();
    t.after(() => agg.close());
    const service = '<img src=x onerror=alert(1)>';
    const credential = '"><script>alert(2)</script>';
    const now = Date.now();
    const records = [];
    for (let i = 0; i < 30; i++) records.push({ ts: now - i * 100, ip: '203.0.113.66', status: 500, service });
    for (let k = 0; k < 4; k++) records.push({ ts: now - k, ip: `198.51.100.${k + 1}`, status: 200, service, credential });
    assert.equal((await postJson(`${agg.url}/v1/records`, { records })).body.accepted, records.length);
    const { page } = await withPage(t);
    const w = watch(page, agg.url);
    await page.goto(`${agg.url}/ui/`);
    await rendered(page);
    const texts = await page.locator('li.finding').allInnerTexts();
    assert.equal(texts.length, 2, texts.join('\n'));
    for (const text of texts) assert.ok(text.includes(service), text);
    assert.ok(texts.some((x) => x.includes(credential)));
    assert.ok((await page.locator('#top h3').first().innerText()).includes(service));
    assert.ok((await page.locator('#service option').allTextContents()).includes(service));
    // no image at all (the page has none of its own); no script but the page's own
    assert.equal(await page.locator('img').count(), 0);
    assert.deepEqual(await page.locator('script').evaluateAll((s) => s.map((x) => x.getAttribute('src'))), ['page.js']);
    // the IP filter built from the hash is text too
    await page.evaluate(() => (location.hash = `#ip=${encodeURIComponent('<b id=injected>x</b>')}`));
    await page.waitForFunction(() => document.querySelector('#filter')?.textContent?.includes('<b id=injected>'));
    assert.equal(await page.locator('#injected').count(), 0);
    assert.deepEqual(w.problems, [], 'no dialog, no CSP violation, no script error');
    assert.deepEqual(w.foreign(), []);
  },
);

test(
  'with SIEM_READ_TOKEN the page asks once per tab, shows nothing without it, and sends it to its own origin only',
  TIMEOUT,
  async (t) => {
    const agg = await demoAggregator(t, { SIEM_READ_TOKEN: 'reader-secret' });
    const { browser, page } = await withPage(t);
    const w = watch(page, agg.url);
    const authorized: string[] = [];
    browser.context.on('request', (r) => {
      if (r.headers().authorization) authorized.push(r.url());
    });
    await page.goto(`${agg.url}/`);
    await page.waitForSelector('#login:not([hidden])');
    assert.equal(await page.locator('#data').isHidden(), true);
    const body = await page.locator('body').innerText();
    for (const secret of [ATTACK.errorIp, ATTACK.floodIp, 'orders']) assert.ok(!body.includes(secret), `${secret} shown without the token`);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'token', 'the prompt has the focus');

    await page.fill('#token', 'wrong');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => document.querySelector('#login-error')?.textContent?.includes('refused'));
    assert.equal(await page.locator('#data').isHidden(), true);
    assert.ok(!(await page.locator('body').innerText()).includes(ATTACK.errorIp));

    await page.fill('#token', 'reader-secret');
    await page.click('#login button');
    await rendered(page);
    assert.equal(await page.locator('#login').isHidden(), true);
    assert.ok((await page.locator('#findings').innerText()).includes(ATTACK.errorIp));
    assert.equal(await page.evaluate(() => sessionStorage.getItem('kong-siem.read-token')), 'reader-secret');

    // kept for the tab: a reload does not ask again
    await page.reload();
    await rendered(page);
    assert.equal(await page.locator('#login').isHidden(), true);
    // another tab asks again (sessionStorage is per tab)
    const other = await browser.context.newPage();
    await other.goto(`${agg.url}/`);
    await other.waitForSelector('#login:not([hidden])');
    await other.close();

    assert.ok(authorized.length > 0);
    assert.deepEqual(
      authorized.filter((u) => new URL(u).origin !== agg.url),
      [],
    );
    assert.deepEqual(w.foreign(), []);
    assert.deepEqual(w.problems, []);
  },
);

test(
  'keyboard and phone: the skip link, the selector and IP links work from the keyboard; a 360 px window needs no sideways scroll',
  TIMEOUT,
  async (t) => {
    const agg = await demoAggregator(t);
    const { page } = await withPage(t, { width: 360, height: 740 });
    await page.goto(`${agg.url}/`);
    await rendered(page);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `page wider than the window by ${overflow} px`);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to the findings');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'service');
    // the first finding's IP link, reached by tabbing, filters on Enter
    let found = false;
    for (let i = 0; i < 10 && !found; i++) {
      await page.keyboard.press('Tab');
      found = await page.evaluate(() => document.activeElement?.classList.contains('ip') ?? false);
    }
    assert.ok(found, 'an IP link is reachable by Tab');
    const ip = await page.evaluate(() => document.activeElement?.textContent ?? '');
    await page.keyboard.press('Enter');
    await page.waitForFunction((x) => document.querySelector('#filter')?.textContent?.includes(`Showing IP ${x}`), ip);
    // a refresh keeps the focus where it was
    await page.locator('#filter a').focus();
    const before = Number(await page.evaluate(() => document.documentElement.dataset.renders));
    await rendered(page, before + 1);
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Show every IP');
  },
);

test(
  'rule types the aggregator may add: flood_ip, auth_bruteforce and an error_ip burst in their words; an unknown type by its own fields, as text; no decisions section from an aggregator without decisions',
  TIMEOUT,
  async (t) => {
    // The real aggregator's answers, with findings and settings of rules it
    // does not run yet added in the browser (page.route), so the page's
    // wording of every rule type is checked against known figures.
    const agg = await demoAggregator(t);
    const { page } = await withPage(t);
    const w = watch(page, agg.url);
    const now = Date.now();
    const extra = [
      { type: 'flood_ip', service: 'orders', ip: '192.0.2.44', count: 5200, ratio: 0.41, since: now - 65_000 },
      { type: 'auth_bruteforce', service: 'orders', ip: '192.0.2.45', count: 12, ratio: 0.923, since: now - 10_000 },
      { type: 'error_ip', service: 'orders', ip: '192.0.2.46', count: 12, ratio: 1, since: now - 5_000 },
      { type: 'tor_exit', service: 'orders', ip: '192.0.2.47', count: 7, ratio: 0.5, since: now - 1_000, list: '<i id=injected>dan</i>' },
    ];
    const rules = {
      flood_min_requests: 1000,
      flood_min_share: 0.2,
      auth_fail_min: 6,
      auth_fail_window_seconds: 60,
      auth_fail_ratio: 0.8,
      error_burst_min: 10,
      error_burst_seconds: 10,
    };
    const amend = (change: (body: any) => object) => async (route: Route) => {
      try {
        const res = await route.fetch();
        await route.fulfill({ response: res, json: change(await res.json()) });
      } catch {
        await route.abort().catch(() => {}); // the test is over: the aggregator is gone
      }
    };
    // an aggregator without decisions (an older one) answers 404: no section
    await page.route(/\/v1\/admin\/decisions$/, (route) => route.fulfill({ status: 404, json: { error: 'no route' } }));
    await page.route(
      /\/v1\/findings(\?|$)/,
      amend((body) => ({ ...body, findings: [...body.findings, ...extra] })),
    );
    await page.route(
      /\/v1\/settings$/,
      amend((body) => {
        const services = Object.fromEntries(
          Object.entries(body.services as Record<string, object>).map(([k, v]) => [k, { ...v, ...rules }]),
        );
        return { ...body, defaults: { ...body.defaults, ...rules }, services };
      }),
    );
    await page.goto(`${agg.url}/`);
    await rendered(page);
    const text = async (ip: string) => page.locator('li.finding', { has: page.locator(`a.ip:text-is("${ip}")`) }).innerText();
    assert.match(
      await text('192.0.2.44'),
      /Flooding IP[\s\S]*5,200 requests, 41% of the service's requests in the last 60 s; rule: ≥ 1,000 and ≥ 20%/,
    );
    assert.match(await text('192.0.2.44'), /5\.2× threshold/);
    assert.match(
      await text('192.0.2.45'),
      /Authentication brute force[\s\S]*12 failed authentications \(401\/403\), 92% of its requests in the last 60 s; rule: ≥ 6 and ≥ 80%/,
    );
    assert.match(
      await text('192.0.2.46'),
      /Failing IP[\s\S]*12 failures, 100% of its requests in the last 10 s; rule: ≥ 10 within 10 s and ≥ 50%/,
    );
    const unknown = await text('192.0.2.47');
    assert.match(unknown, /^tor_exit/);
    assert.match(unknown, /count 7, ratio 50%, list <i id=injected>dan<\/i>/);
    assert.equal(await page.locator('#injected').count(), 0);
    assert.equal(await page.locator('#decisions-section').isHidden(), true);
    // strongest first across old and new types: flood (5.2×) before error_ip (3×)
    const order = await page.locator('li.finding a.ip').first().innerText();
    assert.equal(order, '192.0.2.44');
    assert.deepEqual(w.problems, []);
    assert.deepEqual(w.foreign(), []);
    await page.unrouteAll({ behavior: 'wait' });
  },
);
