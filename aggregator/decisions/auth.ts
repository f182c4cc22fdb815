// Who may use the decision endpoints: bouncers by X-Api-Key (SIEM_BOUNCER_KEYS,
// answering 403 as CrowdSec's Local API does), operators by bearer token
// (SIEM_ADMIN_TOKEN, 401 otherwise). Compared in constant time over digests.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { errors } from '../errors';
import { bouncerId } from './config';

const digest = (s: string) => createHash('sha256').update(s).digest();

export const FORBIDDEN = { message: 'access forbidden' };

/** The short id of the bouncer presenting a known key, else undefined. */
export function bouncerOf(keys: readonly string[]): (req: FastifyRequest) => string | undefined {
  const known = keys.map((k) => ({ d: digest(k), id: bouncerId(k) }));
  return (req) => {
    const h = req.headers['x-api-key'];
    if (typeof h !== 'string' || h.length === 0 || h.length > 1024) return undefined;
    const d = digest(h);
    let found: string | undefined;
    // every key is compared, so timing says nothing about which one matched
    for (const k of known) if (timingSafeEqual(d, k.d)) found = k.id;
    return found;
  };
}

/** onRequest hook for bouncer endpoints: 403 {"message": "access forbidden"} without a known key. */
export function requireBouncer(keys: readonly string[]) {
  const who = bouncerOf(keys);
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const id = who(req);
    if (id === undefined) return reply.code(403).send(FORBIDDEN);
    (req as FastifyRequest & { bouncer?: string }).bouncer = id;
  };
}

function bearerMatches(req: FastifyRequest, want: Buffer): boolean {
  const h = req.headers.authorization;
  const m = typeof h === 'string' ? /^Bearer\s+(.+)$/i.exec(h.trim()) : null;
  return !!m && timingSafeEqual(digest(m[1] as string), want);
}

/**
 * onRequest hook for operator endpoints: one of `tokens` as bearer. An unset
 * admin token closes them (401), unlike the read token, which opens.
 */
export function requireBearer(tokens: (string | undefined)[], openWhenUnset = false) {
  const set = tokens.filter((t): t is string => !!t).map(digest);
  return async (req: FastifyRequest) => {
    if (set.length === 0 && openWhenUnset) return;
    if (!set.some((d) => bearerMatches(req, d))) throw errors.unauthorized();
  };
}
