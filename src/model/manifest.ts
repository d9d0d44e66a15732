/**
 * Snapshot manifests: one line per artifact, `<64-hex blob id><two spaces><path>\n`, sorted by
 * the path's UTF-8 bytes — byte for byte what `sha256sum` prints for the artifact files in
 * C-locale order. The snapshot hash is `sha256:` + SHA-256 of the manifest bytes.
 * @module
 */
import { blobId, isObjectId, type ObjectId } from './hash.js';
import { artifactPathProblem, compareUtf8, MAX_SEGMENT_BYTES } from './paths.js';
import { fail } from './errors.js';

/** path → blob id. */
export type Manifest = Map<string, ObjectId>;

/** `sha256:` + 64 hex. */
export type SnapshotHash = string;

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

/** The hash of the empty manifest (no artifacts): SHA-256 of zero bytes. */
export const EMPTY_SNAPSHOT: SnapshotHash = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

export function sortedPaths(m: Manifest): string[] {
  const keys = [...m.keys()];
  // Decoded manifests iterate in order already; sort only when a change broke it.
  for (let i = 1; i < keys.length; i++) if (compareUtf8(keys[i - 1]!, keys[i]!) >= 0) return keys.sort(compareUtf8);
  return keys;
}

/** Encode a manifest to its canonical bytes. */
export function encodeManifest(m: Manifest): Uint8Array {
  let text = '';
  for (const p of sortedPaths(m)) text += `${m.get(p)}  ${p}\n`;
  return enc.encode(text);
}

/**
 * Decode and validate manifest bytes: every line well formed, every path safe, strictly sorted.
 * @throws AgentsyncError STORE_CORRUPT
 */
export function decodeManifest(bytes: Uint8Array, opts: { trusted?: boolean } = {}): Manifest {
  if (opts.trusted) return decodeTrusted(bytes);
  const m: Manifest = new Map();
  let text: string;
  try {
    text = dec.decode(bytes);
  } catch {
    return fail('STORE_CORRUPT', 'snapshot manifest is not valid UTF-8; run `agentsync fsck`');
  }
  if (text.length === 0) return m;
  if (!text.endsWith('\n')) fail('STORE_CORRUPT', 'snapshot manifest does not end with a newline; run `agentsync fsck`');
  let prev: string | null = null;
  let start = 0;
  while (start < text.length) {
    const end = text.indexOf('\n', start);
    const id = text.slice(start, start + 64);
    const path = text.slice(start + 66, end);
    if (end - start < 67 || text.charCodeAt(start + 64) !== 32 || text.charCodeAt(start + 65) !== 32 || !isObjectId(id)) {
      fail('STORE_CORRUPT', `malformed snapshot manifest line ${JSON.stringify(text.slice(start, end))}; run \`agentsync fsck\``);
    }
    const why = artifactPathProblem(path);
    if (why) fail('PATH_UNSAFE', `snapshot names an unsafe path ${JSON.stringify(path)} (${why}); refusing it`, { path });
    if (prev !== null && compareUtf8(prev, path) >= 0) fail('STORE_CORRUPT', `snapshot manifest is not sorted at ${JSON.stringify(path)}; run \`agentsync fsck\``);
    m.set(path, id);
    prev = path;
    start = end + 1;
  }
  return m;
}

/** Snapshot hash of canonical manifest bytes. */
export function snapshotHashOf(bytes: Uint8Array): SnapshotHash {
  return `sha256:${blobId(bytes)}`;
}

export function snapshotHash(m: Manifest): SnapshotHash {
  return snapshotHashOf(encodeManifest(m));
}

const SNAP = /^sha256:[0-9a-f]{64}$/;
export function isSnapshotHash(s: unknown): s is SnapshotHash {
  return typeof s === 'string' && SNAP.test(s);
}

/** The object id under which a manifest is stored (its hash without the prefix). */
export function manifestObjectId(h: SnapshotHash): ObjectId {
  return h.slice(7);
}

/** One change to a manifest: set a path to a blob, or remove it (`id: null`). */
export interface Change {
  path: string;
  id: ObjectId | null;
}

/** Changes that turn `from` into `to`, sorted by path. */
export function diffManifests(from: Manifest, to: Manifest): Change[] {
  const out: Change[] = [];
  for (const [p, id] of to) if (from.get(p) !== id) out.push({ path: p, id });
  for (const p of from.keys()) if (!to.has(p)) out.push({ path: p, id: null });
  return out.sort((a, b) => compareUtf8(a.path, b.path));
}

/** A new manifest: `base` with `changes` applied. */
export function applyChanges(base: Manifest, changes: readonly Change[]): Manifest {
  const m: Manifest = new Map(base);
  for (const c of changes) {
    if (c.id === null) m.delete(c.path);
    else m.set(c.path, c.id);
  }
  return m;
}

/**
 * A cheap pass that finds every manifest text that could hold an unsafe path (SPEC §1.3): a
 * control character other than the line feed, a backslash, any surrogate, or a `/` followed by
 * `.`, `/` or the end of the line. Paths in a text it passes that neither start with `.` or `/`
 * nor are empty nor are long enough to break a length limit are safe; the others get the full
 * per-path check.
 */
// eslint-disable-next-line no-control-regex
const SUSPICIOUS = /[\x00-\x09\x0b-\x1f\x7f\\\ud800-\udfff]/;

/**
 * Decode a manifest already validated when it was stored (its id is its hash, checked on
 * arrival): split lines, with the path rules of SPEC §1.3 checked by one cheap pass over the text
 * (per path only when that pass finds something odd), so that a store written by something else
 * can still never name a path outside `services/`. `fsck` decodes with full validation.
 * @throws AgentsyncError PATH_UNSAFE
 */
function decodeTrusted(bytes: Uint8Array): Manifest {
  const m: Manifest = new Map();
  const text = dec.decode(bytes);
  const full = SUSPICIOUS.test(text) || text.includes('/.') || text.includes('//') || text.includes('/\n') || (text.length > 0 && !text.endsWith('\n'));
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const path = text.slice(start + 66, end);
    const c0 = text.charCodeAt(start + 66);
    if (full || end <= start + 66 || c0 === 46 || c0 === 47 || end - start > 66 + MAX_SEGMENT_BYTES / 3) {
      const why = artifactPathProblem(path);
      if (why) fail('PATH_UNSAFE', `a stored snapshot names an unsafe path ${JSON.stringify(path)} (${why}); refusing it — run \`agentsync fsck\``, { path });
    }
    m.set(path, text.slice(start, start + 64));
    start = end + 1;
  }
  return m;
}

/**
 * A file/folder clash: a path that is a file in `m` and also a folder of another path of `m`
 * (`agents/a.yaml` and `agents/a.yaml/b.yaml`). No clone could check such a snapshot out.
 * With `only` (the paths a change added), only clashes involving one of them count: a clash
 * already stored does not block unrelated changes.
 * @returns the pair, or null.
 */
export function findClash(m: Manifest, only?: Iterable<string>): { file: string; under: string } | null {
  const folders = new Map<string, string>();
  for (const p of m.keys()) {
    for (let i = p.indexOf('/'); i >= 0; i = p.indexOf('/', i + 1)) {
      const d = p.slice(0, i);
      if (!folders.has(d)) folders.set(d, p);
    }
  }
  if (!only) {
    for (const [d, under] of folders) if (m.has(d)) return { file: d, under };
    return null;
  }
  for (const p of only) {
    for (let i = p.indexOf('/'); i >= 0; i = p.indexOf('/', i + 1)) {
      const d = p.slice(0, i);
      if (m.has(d)) return { file: d, under: p };
    }
    const under = folders.get(p);
    if (under !== undefined) return { file: p, under };
  }
  return null;
}

/**
 * `findClash` for canonical manifest bytes, checking only `paths` (the paths a change added):
 * each is neither a folder of a file in `bytes` nor has a file of `bytes` as one of its folders.
 * O(changes × depth × log n), no decode.
 */
export function findClashAt(bytes: Uint8Array, paths: Iterable<string>): { file: string; under: string } | null {
  for (const p of paths) {
    for (let i = p.indexOf('/'); i >= 0; i = p.indexOf('/', i + 1)) {
      const d = p.slice(0, i);
      if (manifestLookup(bytes, d) !== undefined) return { file: d, under: p };
    }
    const under = firstUnder(bytes, p + '/');
    if (under !== undefined) return { file: p, under };
  }
  return null;
}

/** The first path of `bytes` that starts with `prefix`, if any. */
function firstUnder(bytes: Uint8Array, prefix: string): string | undefined {
  const p = enc.encode(prefix);
  const at = lowerBound(bytes, 0, p);
  if (at >= bytes.length) return undefined;
  const e = bytes.indexOf(10, at);
  const a = at + 66;
  if (e - a < p.length) return undefined;
  for (let i = 0; i < p.length; i++) if (bytes[a + i] !== p[i]) return undefined;
  return dec.decode(bytes.subarray(a, e));
}

/** Compare the path of the manifest line at `s` (ending at `e`, the newline) with UTF-8 `p`. */
function comparePathAt(bytes: Uint8Array, s: number, e: number, p: Uint8Array): number {
  const a = s + 66;
  const n = Math.min(e - a, p.length);
  for (let i = 0; i < n; i++) {
    const d = bytes[a + i]! - p[i]!;
    if (d !== 0) return d;
  }
  return (e - a) - p.length;
}

/** Byte offset of the first line at or after line start `from` whose path is >= `p` (binary search). */
function lowerBound(bytes: Uint8Array, from: number, p: Uint8Array): number {
  let lo = from, hi = bytes.length;
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    const s = m === lo ? lo : bytes.lastIndexOf(10, m - 1) + 1;
    const start = s < lo ? lo : s;
    const e = bytes.indexOf(10, start);
    if (comparePathAt(bytes, start, e, p) < 0) lo = e + 1;
    else hi = start;
  }
  return lo;
}

/**
 * The blob id of `path` in canonical manifest bytes (undefined: absent), by binary search —
 * no decode. `bytes` must be a well-formed manifest (a stored, hash-checked one).
 */
export function manifestLookup(bytes: Uint8Array, path: string): ObjectId | undefined {
  const p = enc.encode(path);
  const at = lowerBound(bytes, 0, p);
  if (at >= bytes.length) return undefined;
  const e = bytes.indexOf(10, at);
  return comparePathAt(bytes, at, e, p) === 0 ? dec.decode(bytes.subarray(at, at + 64)) : undefined;
}

/**
 * `applyChanges` on canonical manifest bytes, without decoding them: each changed path's line is
 * found by binary search (lines are sorted by UTF-8 bytes) and the untouched runs are copied.
 * Gives the same bytes as `encodeManifest(applyChanges(decodeManifest(bytes), changes))`.
 * Returns undefined when `changes` are not strictly sorted by path (callers then take the
 * general route). `bytes` must be a well-formed manifest (a stored, hash-checked one).
 */
export function patchManifest(bytes: Uint8Array, changes: readonly Change[]): Uint8Array | undefined {
  for (let i = 1; i < changes.length; i++) if (compareUtf8(changes[i - 1]!.path, changes[i]!.path) >= 0) return undefined;
  const len = bytes.length;
  const parts: Uint8Array[] = [];
  let total = 0;
  let cursor = 0; // first byte not yet copied; always a line start
  for (const c of changes) {
    const p = enc.encode(c.path);
    // Lower bound: the first line at or after `cursor` whose path is >= p.
    const lo = lowerBound(bytes, cursor, p);
    let next = lo;
    if (lo < len) {
      const e = bytes.indexOf(10, lo);
      if (comparePathAt(bytes, lo, e, p) === 0) next = e + 1; // the path's current line is replaced (or dropped)
    }
    if (lo > cursor) { parts.push(bytes.subarray(cursor, lo)); total += lo - cursor; }
    if (c.id !== null) {
      const line = enc.encode(`${c.id}  ${c.path}\n`);
      parts.push(line);
      total += line.length;
    }
    cursor = next;
  }
  if (cursor < len) { parts.push(bytes.subarray(cursor)); total += len - cursor; }
  const out = new Uint8Array(total);
  let o = 0;
  for (const part of parts) { out.set(part, o); o += part.length; }
  return out;
}
