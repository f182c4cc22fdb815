// The credential fingerprint of docs/configuration.md: the first 16 hex digits of
// HMAC-SHA256(key, value), or of SHA-256(value) when no key is set. The plugin,
// the aggregator (for /v1/kong-log and replay) and `kong-siem fingerprint`
// must agree on it, so it lives here once.
import { createHash, createHmac } from 'node:crypto';

export const FINGERPRINT_HEX_DIGITS = 16;

export function fingerprint(value: string, key?: string): string {
  const h = key ? createHmac('sha256', key) : createHash('sha256');
  return h.update(value, 'utf8').digest('hex').slice(0, FINGERPRINT_HEX_DIGITS);
}
