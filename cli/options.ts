// Option value parsers of `kong-siem`: each turns a flag's text into its
// value or throws commander's InvalidArgumentError, which commander prints as
// a usage error naming the flag.
import { InvalidArgumentError } from 'commander';
import { isRedactedHeader } from '../common/kong-log';
import { DETECTION_SETTINGS, type SettingName } from '../common/settings';
import { parseSuccessStatuses } from '../common/success-statuses';

export function intIn(min: number, max: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || n < min || n > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
    return n;
  };
}

/** A credential header replay can read: Kong's serializer logs authorization headers as REDACTED. */
export function credentialHeader(v: string): string {
  if (isRedactedHeader(v))
    throw new InvalidArgumentError(
      `${v} cannot be a credential source: Kong logs its value as REDACTED, so every client would share one credential`,
    );
  return v;
}

/** `--success-statuses ROUTE=302[|303]`, repeatable: the entries add up. */
export function successStatuses(v: string, prev: Map<string, Set<number>> | undefined): Map<string, Set<number>> {
  try {
    return parseSuccessStatuses(v, prev ?? new Map());
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

export function settingParser(name: SettingName) {
  const s = DETECTION_SETTINGS[name];
  return (v: string): number => {
    const n = Number(v);
    const ok = v.trim() !== '' && Number.isFinite(n) && (s.type === 'number' || Number.isInteger(n)) && n >= s.min && n <= s.max;
    if (!ok) throw new InvalidArgumentError(`expected ${s.type === 'integer' ? 'an integer' : 'a number'} from ${s.min} to ${s.max}`);
    return n;
  };
}

/** ISO 8601, or epoch seconds / milliseconds (Kong's started_at is ms). */
export function parseTime(v: string): number {
  if (/^\d+$/.test(v)) {
    const n = Number(v);
    return n < 1e11 ? n * 1000 : n;
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw new InvalidArgumentError('expected an ISO 8601 time (2024-06-07T22:00:00Z) or seconds/ms since epoch');
  return t;
}

export const flagOf = (name: SettingName) => `--${name.replace(/_/g, '-')}`;
export const camel = (name: string) => name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** `replay ... --json` (before any `--`): its usage errors still print a JSON report. */
export function replayWantsJson(argv: string[]): boolean {
  const args = argv.slice(2);
  const end = args.indexOf('--');
  return args[0] === 'replay' && (end < 0 ? args : args.slice(0, end)).includes('--json');
}
