// Byte tables of the replay fast path's JSON scanner (cli/kong-log-scan.ts),
// built once at load: a class per byte inside a string, the escapes JSON
// allows, hex digits, and the literal words.

/** Byte classes inside a string: 0 plain, then the ones that need a look. */
export const PLAIN = 0;
export const QUOTE = 1;
export const BACKSLASH = 2;
export const CONTROL = 3;
export const HIGH = 4;
export const IN_STRING = new Uint8Array(256).map((_, c) =>
  c === 34 ? QUOTE : c === 92 ? BACKSLASH : c < 32 ? CONTROL : c >= 128 ? HIGH : PLAIN,
);
/** the bytes that may follow a backslash, besides u */
export const ESCAPES = new Uint8Array(256).map((_, c) => ('"\\/bfnrt'.includes(String.fromCharCode(c)) ? 1 : 0));
export const HEX = new Uint8Array(256).map((_, c) => (/[0-9a-fA-F]/.test(String.fromCharCode(c)) ? 1 : 0));

/** the literal words, as bytes */
export const TRUE = [116, 114, 117, 101];
export const FALSE = [102, 97, 108, 115, 101];
export const NULL = [110, 117, 108, 108];
