// `kong-siem fingerprint CREDENTIAL --key K`: the fingerprint the plugin (and
// the aggregator, for raw credentials) would report for a known credential,
// so an analyst can look it up in findings and metrics.
import { fingerprint } from '../common/fingerprint';

export interface FingerprintOutcome {
  value: string;
  /** a note for stderr, when the result depends on a default worth knowing */
  note?: string;
}

export function fingerprintOf(credential: string, key: string | undefined): FingerprintOutcome {
  const value = fingerprint(credential, key || undefined);
  if (key) return { value };
  return {
    value,
    note: 'no --key and no SIEM_HASH_KEY: plain SHA-256, which matches only a plugin or aggregator without hash_key / SIEM_HASH_KEY',
  };
}

/** First line of a stream, without its line end: `-` reads the credential from stdin, out of shell history. */
export async function firstLine(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) {
    text += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
    if (text.includes('\n')) break;
  }
  return text.split(/\r?\n/, 1)[0] ?? '';
}
