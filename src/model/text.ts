/**
 * Text from outside (a remote's version author and message, a server's error message) made safe
 * to print on a terminal: control characters cannot move the cursor, change colours, or fake a
 * line of output.
 * @module
 */

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f-\x9f]|\p{Cs}/gu;

/**
 * `s` with every C0/C1 control character (and lone surrogate) shown as an escape: `\n`, `\t`,
 * `\r` by name, others as `\xNN` / `\uNNNN`. A backslash is left as it is.
 */
export function printable(s: string): string {
  return s.replace(CONTROL, escapeOne);
}

function escapeOne(c: string): string {
  if (c === '\n') return '\\n';
  if (c === '\t') return '\\t';
  if (c === '\r') return '\\r';
  const n = c.charCodeAt(0);
  return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
}

/** True when `s` holds a control character (C0 other than `allow`, DEL, C1) or a lone surrogate. */
export function hasControl(s: string, allow = ''): boolean {
  for (const m of s.matchAll(CONTROL)) if (!allow.includes(m[0])) return true;
  return false;
}
