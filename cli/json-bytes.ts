// Byte tables of the replay fast path's JSON scanner (cli/kong-log-scan.ts),
// built once at load: the escapes JSON allows and hex digits.

/** the bytes that may follow a backslash, besides u */
export const ESCAPES = new Uint8Array(256).map((_, c) => ('"\\/bfnrt'.includes(String.fromCharCode(c)) ? 1 : 0));
export const HEX = new Uint8Array(256).map((_, c) => (/[0-9a-fA-F]/.test(String.fromCharCode(c)) ? 1 : 0));
