// `npm run screenshot`: regenerates docs/findings-page.png, the README's
// picture of the findings page, from a real aggregator fed the demo's traffic
// and Debian's chromium (as the browser tests use it). Fails when the PNG
// grows past MAX_BYTES: the repository should not carry a heavy picture.
import { statSync } from 'node:fs';
import path from 'node:path';
import { wave } from '../cli/demo';
import { prng } from '../cli/kong-traffic';
import type { SiemRecord } from '../common/record';
import { postJson, startAggregator } from '../test/helpers/aggregator';
import { launchBrowser } from '../test/helpers/browser';
import { REPO_ROOT } from '../test/helpers/paths';

export const SCREENSHOT = path.join(REPO_ROOT, 'docs', 'findings-page.png');
export const SCREENSHOT_MAX_BYTES = 300 * 1024;

/** `count` successful requests of the demo's benign clients, now. */
function benign(seed: number, count: number): SiemRecord[] {
  const rnd = prng(seed);
  const now = Date.now();
  return Array.from({ length: count }, () => {
    const c = Math.floor(rnd() * 400);
    return {
      ts: now - Math.floor(rnd() * 1000),
      ip: `10.${1 + (c >> 8)}.${c & 255}.${1 + (c % 7)}`,
      status: 200,
      service: c % 2 ? 'billing' : 'orders',
    };
  });
}

async function main(): Promise<void> {
  const agg = await startAggregator();
  const browser = await launchBrowser({ width: 1100, height: 1000 });
  try {
    await wave(agg.url, 0);
    const page = browser.context.pages()[0] ?? (await browser.context.newPage());
    await page.emulateMedia({ colorScheme: 'light' });
    await page.goto(`${agg.url}/#service=orders`);
    // benign traffic keeps coming while the page refreshes four times, so
    // the sparklines have a line to draw
    const renders = () =>
      page.evaluate(() =>
        Number(
          (globalThis as unknown as { document: { documentElement: { dataset: { renders?: string } } } }).document.documentElement.dataset
            .renders ?? 0,
        ),
      );
    for (let n = 1; (await renders()) < 4 && n < 60; n++) {
      await postJson(`${agg.url}/v1/records`, { records: benign(n, 150 + 50 * (n % 3)) });
      await new Promise((r) => setTimeout(r, 1000));
    }
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  } finally {
    await browser.close();
    await agg.close();
  }
  const bytes = statSync(SCREENSHOT).size;
  process.stdout.write(`${path.relative(REPO_ROOT, SCREENSHOT)}: ${bytes} bytes\n`);
  if (bytes > SCREENSHOT_MAX_BYTES) {
    process.stderr.write(`screenshot over ${SCREENSHOT_MAX_BYTES} bytes: make the page or the window smaller\n`);
    process.exitCode = 1;
  }
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
