// Per-service settings as a batch carries them: validated against the
// settings table, merged over the aggregator's defaults. Shared by the backends.
import Ajv from 'ajv';
import { isBoundedName } from '../../common/limits';
import { SETTING_NAMES, settingsJsonSchema, type DetectionSettings } from '../../common/settings';

const ajv = new Ajv({ allErrors: false, coerceTypes: false });
const validateSettings = ajv.compile(settingsJsonSchema());

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
