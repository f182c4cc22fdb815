// SIEM_SETTINGS_FILE: per-service detection settings an operator fixes
// (SIEM_SETTINGS=locked), a JSON object {"<service>": {<field>: value}}.
// Read once at start; anything wrong stops the start with one message naming
// the service, the field and what it may be: a typo in a file is an error,
// where the same typo in a batch is an unknown field ignored.
import { readFileSync } from 'node:fs';
import { STRING_MAX, isBoundedName, wellFormed } from '../common/limits';
import { DETECTION_SETTINGS, SETTING_NAMES, type DetectionSettings, type SettingName } from '../common/settings';

/** services a file may name: a file is configuration, not traffic, but still bounded */
export const SETTINGS_FILE_MAX_SERVICES = 10_000;

function describeRange(name: SettingName): string {
  const s = DETECTION_SETTINGS[name];
  return `${s.type === 'integer' ? 'an integer' : 'a number'} from ${s.min} to ${s.max}`;
}

/**
 * Settings per service from the text of a settings file, each merged over
 * `defaults`. Throws an Error whose message names what is wrong.
 */
export function parseSettingsFile(text: string, defaults: Readonly<DetectionSettings>): Map<string, Readonly<DetectionSettings>> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`not JSON (${(err as Error).message})`);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    throw new Error('expected a JSON object {"<service>": {"<setting>": value, ...}, ...}');
  const entries = Object.entries(doc as Record<string, unknown>);
  if (entries.length > SETTINGS_FILE_MAX_SERVICES) throw new Error(`${entries.length} services, at most ${SETTINGS_FILE_MAX_SERVICES}`);
  const out = new Map<string, Readonly<DetectionSettings>>();
  for (const [rawName, value] of entries) {
    const at = JSON.stringify(rawName);
    // named as records name services: lone surrogates replaced first
    const name = wellFormed(rawName);
    if (!isBoundedName(name)) throw new Error(`service ${at}: a service name is 1 to ${STRING_MAX} characters`);
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      throw new Error(`service ${at}: expected an object of settings`);
    const merged: DetectionSettings = { ...defaults };
    for (const [field, v] of Object.entries(value as Record<string, unknown>)) {
      if (!(field in DETECTION_SETTINGS))
        throw new Error(`service ${at}: unknown setting ${JSON.stringify(field)} (the settings are ${SETTING_NAMES.join(', ')})`);
      const spec = DETECTION_SETTINGS[field as SettingName];
      const ok =
        typeof v === 'number' && Number.isFinite(v) && (spec.type === 'number' || Number.isInteger(v)) && v >= spec.min && v <= spec.max;
      if (!ok) throw new Error(`service ${at}: ${field}=${JSON.stringify(v)}: expected ${describeRange(field as SettingName)}`);
      merged[field as SettingName] = v as number;
    }
    out.set(name, Object.freeze(merged));
  }
  return out;
}

/** Read and parse SIEM_SETTINGS_FILE; the message names the variable and the file. */
export function loadSettingsFile(path: string, defaults: Readonly<DetectionSettings>): Map<string, Readonly<DetectionSettings>> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`SIEM_SETTINGS_FILE=${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    return parseSettingsFile(text, defaults);
  } catch (err) {
    throw new Error(`SIEM_SETTINGS_FILE=${path}: ${(err as Error).message}`);
  }
}
