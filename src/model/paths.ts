/**
 * Artifact paths: relative to `services/`, `/`-separated, no `..`, no backslash, no control
 * characters (they would break the one-line-per-artifact manifest format).
 * @module
 */
import { fail } from './errors.js';

/** The longest path segment (file or folder name) in UTF-8 bytes: what Linux, macOS and Windows filesystems all take. */
export const MAX_SEGMENT_BYTES = 255;
/** The longest artifact path in UTF-8 bytes (well under every PATH_MAX once joined to a workspace). */
export const MAX_PATH_BYTES = 1024;

/** UTF-8 length of a string without encoding it. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) { n += 4; i++; }
    else n += 3;
  }
  return n;
}

/** Plain ASCII segments of 1–255 characters, none starting with '.', joined by single '/'. */
const PLAIN = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,254}(?:\/[A-Za-z0-9_-][A-Za-z0-9_.-]{0,254})*$/;

/** @returns a reason the path is unsafe, or null when it is a valid artifact path. */
export function artifactPathProblem(p: string): string | null {
  // Fast path for the common shape (ASCII letters, digits, '_', '-', '.', no segment starting
  // with '.'): such a path has none of the problems below, so the answer is the same, cheaper.
  if (p.length <= MAX_PATH_BYTES && PLAIN.test(p)) return null;
  if (p.length === 0) return 'empty path';
  if (p.length > MAX_PATH_BYTES / 3 && utf8Length(p) > MAX_PATH_BYTES) return `is longer than ${MAX_PATH_BYTES} bytes`;
  if (p.includes('\\')) return 'contains a backslash';
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(p)) return 'contains a control character';
  if (/\p{Cs}/u.test(p)) return 'is not valid Unicode (a lone surrogate)';
  if (p.startsWith('/')) return 'is absolute';
  for (const seg of p.split('/')) {
    if (seg === '' ) return 'has an empty segment';
    if (seg === '.' || seg === '..') return `has a "${seg}" segment`;
    if (seg.length > MAX_SEGMENT_BYTES / 3 && utf8Length(seg) > MAX_SEGMENT_BYTES) return `has a name longer than ${MAX_SEGMENT_BYTES} bytes`;
  }
  return null;
}

/** @throws AgentsyncError PATH_UNSAFE */
export function checkArtifactPath(p: string): string {
  const why = artifactPathProblem(p);
  if (why) fail('PATH_UNSAFE', `refusing artifact path ${JSON.stringify(p)}: it ${why}; rename the file under services/`, { path: p, reason: why });
  return p;
}

/** Compare two strings by their UTF-8 bytes (C-locale order, as `sort` with LC_ALL=C). */
export function compareUtf8(a: string, b: string): number {
  if (a === b) return 0;
  // Fast path: both ASCII — JS code-unit order equals byte order.
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i), y = b.charCodeAt(i);
    if (x !== y) {
      if (x < 0x80 && y < 0x80) return x - y;
      return compareBytes(utf8.encode(a.slice(i)), utf8.encode(b.slice(i)));
    }
  }
  return a.length - b.length;
}

const utf8 = new TextEncoder();

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}
