// SIEM_TRUST_PROXY: the proxies whose X-Forwarded-For is believed, handed to
// fastify's trustProxy (@fastify/proxy-addr: req.ip is the nearest address
// in the chain that is not a trusted proxy). Read only for the bouncer
// stream positions (docs/decisions.md) and the senders the refusal log
// names (refusals.ts); unset, req.ip is the socket's.
import type { FastifyRequest } from 'fastify';
import { plainAddress, TARGET_FORMS, targetOf } from './decisions/policy';

/**
 * The list as canonical addresses and CIDRs, parsed as SIEM_ALLOWLIST is
 * (proxy-addr alone would take `010.0.0.1` as octal and `loopback` as a
 * name). A /0 is refused: trusting every address lets any client name its own.
 */
export function parseTrustProxy(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split(',')) {
    const e = raw.trim();
    if (!e) continue;
    const t = targetOf(e);
    if (!t) throw new Error(`SIEM_TRUST_PROXY: "${e}" is not an IP address or CIDR (${TARGET_FORMS})`);
    if (t.value.endsWith('/0')) throw new Error(`SIEM_TRUST_PROXY: "${e}" trusts every address; list the proxies`);
    out.push(t.value);
  }
  return out;
}

/**
 * The address a bouncer pulls from: req.ip, unless it came from
 * X-Forwarded-For and is no plain address (text, a zone, any length a
 * trusted sender wrote): then the socket's, as without the setting.
 */
export function clientAddress(req: FastifyRequest): string {
  const socket = req.socket.remoteAddress ?? '';
  const ip = req.ip ?? '';
  if (ip === socket) return ip;
  return ip.length <= 64 && plainAddress(ip) ? ip : socket;
}
