// Byte tables of the replay fast path's JSON scanner (cli/kong-log-scan.ts),
// built once at load: the escapes JSON allows and hex digits.

/** the bytes that may follow a backslash, besides u */
export const ESCAPES = new Uint8Array(256).map((_, c) => ('"\\/bfnrt'.includes(String.fromCharCode(c)) ? 1 : 0));
export const HEX = new Uint8Array(256).map((_, c) => (/[0-9a-fA-F]/.test(String.fromCharCode(c)) ? 1 : 0));

/**
 * Whether the JSON text in bytes [from, to) of `b` opens more than `max`
 * arrays or objects at once (brackets inside strings not counted). Stops at
 * the first level past `max`; malformed text is left to JSON.parse.
 */
export function nestedDeeper(b: Uint8Array, from: number, to: number, max: number): boolean {
  let depth = 0;
  for (let i = from; i < to; i++) {
    const c = b[i] as number;
    if (c === 34) {
      // a string: to its closing quote, over escapes
      for (i++; i < to; i++) {
        const s = b[i] as number;
        if (s === 92) i++;
        else if (s === 34) break;
      }
    } else if (c === 91 || c === 123) {
      if (++depth > max) return true;
    } else if (c === 93 || c === 125) depth--;
  }
  return false;
}
