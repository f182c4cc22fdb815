// The findings page (GET / and /ui/): one HTML page, its script, stylesheet
// and icon, all served from here (nothing from a CDN). The page and assets
// are public; the data comes from the read API, behind SIEM_READ_TOKEN when
// set. A strict Content-Security-Policy allows scripts, styles, images and
// fetches from this origin only, and no inline script or style.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';

/** `npm run build` writes the page here: dist/ui beside dist/aggregator. */
export const UI_DIR = path.resolve(__dirname, '../../ui');

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const HEADERS = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  // small files: revalidate every time (ETag), so an upgrade shows at once
  'cache-control': 'no-cache',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

function asset(body: Buffer | string, type: string): Asset {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
  return { body: buf, type, etag: `"${createHash('sha256').update(buf).digest('base64url').slice(0, 22)}"` };
}

function load(file: string): Buffer {
  try {
    return readFileSync(path.join(UI_DIR, file));
  } catch (err) {
    throw new Error(`findings page asset ${file} missing in ${UI_DIR} (run npm run build): ${(err as Error).message}`);
  }
}

/** The page's files, read once at start (about 35 KB in all). */
export function loadAssets(): Map<string, Asset> {
  const html = load('index.html').toString('utf8');
  // asset URLs relative to the page, so a reverse proxy may mount the
  // aggregator under a path prefix
  return new Map([
    ['/', asset(html.replaceAll('{{ui}}', 'ui/'), 'text/html; charset=utf-8')],
    ['/ui/', asset(html.replaceAll('{{ui}}', ''), 'text/html; charset=utf-8')],
    ['/ui/page.js', asset(load('page.js'), 'text/javascript; charset=utf-8')],
    ['/ui/page.css', asset(load('page.css'), 'text/css; charset=utf-8')],
    ['/ui/icon.svg', asset(load('icon.svg'), 'image/svg+xml')],
  ]);
}

/** The page needs nothing of the aggregator: a plugin without dependencies. */
export const uiRoutes: FastifyPluginAsync = async (app) => {
  let assets: Map<string, Asset>;
  try {
    assets = loadAssets();
  } catch (err) {
    // Tests compiled elsewhere (tsc --outDir) have no dist/ui: the API must
    // still work; the page answers why it is missing.
    const why = (err as Error).message;
    app.addHook('onReady', async () => app.log.warn(why));
    for (const url of ['/', '/ui/', '/ui/page.js', '/ui/page.css', '/ui/icon.svg'])
      app.get(url, async (_req, reply) => reply.code(503).send({ error: why }));
    return;
  }
  const send = (a: Asset) => async (req: FastifyRequest, reply: FastifyReply) => {
    reply.headers(HEADERS).header('etag', a.etag).type(a.type);
    if (req.headers['if-none-match'] === a.etag) return reply.code(304).send();
    return reply.send(a.body);
  };
  for (const [url, a] of assets) app.get(url, send(a));
  app.get('/ui', async (_req, reply) => reply.redirect('ui/', 301));
};
