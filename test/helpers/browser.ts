// A real Chromium for the findings page's tests: Debian's `chromium`, driven
// headless by playwright-core over the DevTools protocol (no browser
// download), with a fresh profile per launch. A missing chromium fails the
// test with the install command: these tests never skip.
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Flags for a quiet, offline-minded headless run (nothing phones home). */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export function requireChromium(): string {
  try {
    accessSync(CHROMIUM, constants.X_OK);
    return CHROMIUM;
  } catch {
    throw new Error(`${CHROMIUM} not found: run \`apt-get install -y chromium\` (Debian; .ci/run does this), or set CHROMIUM_PATH`);
  }
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Launch chromium with a fresh --user-data-dir (removed on close). */
export async function launchBrowser(viewport = { width: 1280, height: 900 }): Promise<Browser> {
  const executablePath = requireChromium();
  const profile = mkdtempSync(path.join(tmpdir(), 'kong-siem-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport,
    timeout: 60_000,
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
