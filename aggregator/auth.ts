// Bearer-token checks, compared in constant time (digests of equal length, so
// neither the token's content nor its length leaks through timing).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { errors } from './errors';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** An onRequest hook demanding `Authorization: Bearer <token>`; a no-op when token is unset. */
export function bearer(token: string | undefined) {
  if (!token) return async () => {};
  const want = digest(token);
  return async (req: FastifyRequest) => {
    const h = req.headers.authorization;
    const m = typeof h === 'string' ? /^Bearer\s+(.+)$/i.exec(h.trim()) : null;
    if (!m || !timingSafeEqual(digest(m[1] as string), want)) throw errors.unauthorized();
  };
}
