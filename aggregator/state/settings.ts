// Per-service settings as a batch carries them: validated against the
// settings table, merged over the aggregator's defaults; and where settings of
// services without a place wait. Shared by the backends.
import type { ValidateFunction } from 'ajv';
import { LRUCache } from 'lru-cache';
import { isBoundedName } from '../../common/limits';
import { SETTING_NAMES, settingsJsonSchema, type DetectionSettings, type SettingName } from '../../common/settings';

// Compiled when a batch first carries settings (a replay never does).
let compiled: ValidateFunction | undefined;
function validateSettings(value: unknown): boolean {
  if (!compiled) {
    const Ajv = (require('ajv') as typeof import('ajv')).default;
    compiled = new Ajv({ allErrors: false, coerceTypes: false }).compile(settingsJsonSchema());
  }
  return compiled(value);
}

/** One service's settings over `defaults`, or undefined when the name or the value is refused. */
export function mergeSettings(defaults: DetectionSettings, name: string, value: unknown): DetectionSettings | undefined {
  if (!isBoundedName(name) || !validateSettings(value)) return undefined;
  const merged: DetectionSettings = { ...defaults };
  for (const k of SETTING_NAMES) {
    const v = (value as Record<string, unknown>)[k];
    if (typeof v === 'number') merged[k] = v;
  }
  return merged;
}

export function sameSettings(a: DetectionSettings, b: DetectionSettings): boolean {
  for (const k of SETTING_NAMES) if (a[k] !== b[k]) return false;
  return true;
}

/**
 * Settings of services that have no place in the services table: named by a
 * batch before their first record, or kept from a service that gave its
 * place back. At most `max` services (SIEM_MAX_SERVICES), least recently set
 * forgotten first, so a batch naming any number of services holds no more
 * than that, and never takes a place. Settings equal to the defaults are not
 * kept (a service without an entry starts with the defaults anyway).
 */
export class SettingsAside {
  readonly #lru: LRUCache<string, DetectionSettings>;

  constructor(max: number) {
    this.#lru = new LRUCache({ max });
  }

  get size(): number {
    return this.#lru.size;
  }

  keep(name: string, s: DetectionSettings, defaults: DetectionSettings): void {
    if (sameSettings(s, defaults)) this.#lru.delete(name);
    else this.#lru.set(name, s);
  }

  peek(name: string): DetectionSettings | undefined {
    return this.#lru.peek(name);
  }

  delete(name: string): void {
    this.#lru.delete(name);
  }

  /** Every entry, least recently set first (restoring them in this order keeps it). */
  entries(): [string, DetectionSettings][] {
    return [...this.#lru.rentries()].map((e) => [e[0] as string, { ...(e[1] as DetectionSettings) }]);
  }
}

/** The fields that differ between two settings, as [before, after]. */
export function settingsDiff(before: DetectionSettings, after: DetectionSettings): Partial<Record<SettingName, [number, number]>> {
  const out: Partial<Record<SettingName, [number, number]>> = {};
  for (const k of SETTING_NAMES) if (before[k] !== after[k]) out[k] = [before[k], after[k]];
  return out;
}
