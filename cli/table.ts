// Plain-text tables for the terminal: columns padded to their widest cell,
// a dashed rule under the header. Shared by the replay report and the
// client commands (findings, top).

import { CONTROLS, escapeControls, uEscape } from '../common/terminal';

/**
 * `s` with C0 and C1 control characters, DEL and the bidi controls as \u
 * escapes, as JSON writes them. Values come from clients (a raw credential header, with
 * hash_credentials off) or from whoever holds the ingest token (a service
 * name): printed as they are, ESC and CSI sequences in them set the
 * terminal's title or clipboard (OSC 52), erased or moved lines and hid
 * rows of the report from the operator reading it.
 */
export function printable(s: string): string {
  return s.replace(CONTROLS, uEscape);
}

/**
 * JSON for a terminal: the same value once parsed, with DEL and the C1 controls
 * escaped as well. JSON.stringify escapes only C0, and a raw U+009B is a CSI
 * to xterm: a client-set credential could drive the operator's terminal
 * through `--json` as it could through a table.
 */
export function terminalJson(value: unknown, indent?: number): string {
  return escapeControls(JSON.stringify(value, null, indent));
}

export function table(header: string[], cells: string[][]): string {
  const rows = cells.map((r) => r.map(printable));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [fmt(header), fmt(widths.map((w) => '-'.repeat(w))), ...rows.map(fmt)].join('\n');
}

/** ms since epoch as ISO 8601 to the second; '-' for none. */
export function iso(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  const d = new Date(ms);
  // past what a Date holds (±8.64e15 ms): the number, not a RangeError ending the command
  return Number.isNaN(d.getTime()) ? `${ms} ms` : d.toISOString().replace('.000Z', 'Z');
}

export const pct = (x: number): string => `${Math.round(x * 100)}%`;
