// Plain-text tables for the terminal: columns padded to their widest cell,
// a dashed rule under the header. Shared by the replay report and the
// client commands (findings, top).

export function table(header: string[], rows: string[][]): string {
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
