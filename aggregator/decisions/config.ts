// SIEM_DECISIONS, SIEM_ALLOWLIST, SIEM_MAX_DECISIONS, SIEM_BOUNCER_KEYS and
// SIEM_ADMIN_TOKEN, checked at boot like every other variable.
import { createHash } from 'node:crypto';
import { Allowlist, parsePolicy, type DecisionPolicy } from './policy';

export interface DecisionsConfig {
  policy: DecisionPolicy;
  allowlist: Allowlist;
  max: number;
  /** bouncer API keys (secrets: never logged, never a label) */
  bouncerKeys: readonly string[];
  adminToken: string | undefined;
}

export const MIN_KEY_LENGTH = 16;

/** The label a bouncer key is known by in metrics and logs: 8 hex digits of its SHA-256. */
export function bouncerId(key: string): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

export function loadDecisionsConfig(v: {
  decisions: string;
  allowlist: string | undefined;
  max: number;
  bouncerKeys: string | undefined;
  adminToken: string | undefined;
}): DecisionsConfig {
  const keys = (v.bouncerKeys ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k.length > 0);
  for (const k of keys) {
    if (k.length < MIN_KEY_LENGTH)
      throw new Error(`SIEM_BOUNCER_KEYS: every key needs at least ${MIN_KEY_LENGTH} characters (e.g. openssl rand -hex 24)`);
  }
  if (new Set(keys).size !== keys.length) throw new Error('SIEM_BOUNCER_KEYS: a key is listed twice (each bouncer needs its own)');
  if (new Set(keys.map(bouncerId)).size !== keys.length)
    throw new Error('SIEM_BOUNCER_KEYS: two keys share a short id; choose another key');
  return Object.freeze({
    policy: parsePolicy(v.decisions),
    allowlist: new Allowlist(v.allowlist ?? ''),
    max: v.max,
    bouncerKeys: Object.freeze(keys),
    adminToken: v.adminToken,
  });
}
