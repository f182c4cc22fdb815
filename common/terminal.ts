// Text that may reach an operator's terminal: client-set strings (a raw
// credential, a service name from the ingest token holder) with their
// control characters as JSON's \u escapes, so they print as text and drive
// nothing (a title, the clipboard by OSC 52, moved or erased lines).

/** a character as JSON's \u escape */
export const uEscape = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * DEL, the C1 controls and the bidirectional formatting characters:
 * JSON.stringify leaves them raw. U+009B is a CSI to xterm; a right-to-left
 * override (U+202E) or isolate shown raw reorders the rest of the line, so a
 * service name could make a table row or log line read otherwise than it is.
 */
const RAW_IN_JSON = '\\u007f-\\u009f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069';
const RAW = new RegExp(`[${RAW_IN_JSON}]`);
const RAW_ALL = new RegExp(`[${RAW_IN_JSON}]`, 'g');
/** every character a terminal should get as an escape: C0 as well */
export const CONTROLS = new RegExp(`[\\u0000-\\u001f${RAW_IN_JSON}]`, 'g');

/** JSON text with DEL, C1 and the bidi controls escaped as well: the same value once parsed. */
export function escapeControls(json: string): string {
  return RAW.test(json) ? json.replace(RAW_ALL, uEscape) : json;
}
