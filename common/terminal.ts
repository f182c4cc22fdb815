// Text that may reach an operator's terminal: client-set strings (a raw
// credential, a service name from the ingest token holder) with their
// control characters as JSON's \u escapes, so they print as text and drive
// nothing (a title, the clipboard by OSC 52, moved or erased lines).

/** a character as JSON's \u escape */
export const uEscape = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** DEL and the C1 controls: JSON.stringify leaves them raw, and U+009B is a CSI to xterm */
const DEL_C1 = /[\u007f-\u009f]/;
const DEL_C1_ALL = /[\u007f-\u009f]/g;

/** JSON text with DEL and C1 escaped as well: the same value once parsed. */
export function escapeDelC1(json: string): string {
  return DEL_C1.test(json) ? json.replace(DEL_C1_ALL, uEscape) : json;
}
