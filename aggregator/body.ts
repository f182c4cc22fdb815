// JSON bodies, optionally gzip-encoded. The raw body is bounded by fastify's
// bodyLimit; the inflated one by the same limit (maxOutputLength), so a gzip
// bomb stops at SIEM_MAX_BODY_BYTES of output instead of filling memory.
import { gunzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { errors } from './errors';

export function registerJsonBody(app: FastifyInstance, maxBodyBytes: number): void {
  // JSON only: any other content type gets 415 from fastify.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer', bodyLimit: maxBodyBytes },
    (req: FastifyRequest, raw: Buffer, done: (err: Error | null, body?: unknown) => void) => {
      let buf = raw;
      const enc = String(req.headers['content-encoding'] ?? 'identity')
        .trim()
        .toLowerCase();
      if (enc === 'gzip' || enc === 'x-gzip') {
        try {
          buf = gunzipSync(raw, { maxOutputLength: maxBodyBytes });
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          return done(code === 'ERR_BUFFER_TOO_LARGE' ? errors.bodyTooLarge(maxBodyBytes) : errors.badGzip());
        }
      } else if (enc !== 'identity' && enc !== '') {
        return done(errors.unsupportedEncoding(enc));
      }
      try {
        done(null, JSON.parse(buf.toString('utf8')));
      } catch (err) {
        done(errors.badJson((err as Error).message));
      }
    },
  );
}
