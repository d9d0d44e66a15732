/**
 * Snapshot manifests: one line per artifact, `<64-hex blob id><two spaces><path>\n`, sorted by
 * the path's UTF-8 bytes — byte for byte what `sha256sum` prints for the artifact files in
 * C-locale order. The snapshot hash is `sha256:` + SHA-256 of the manifest bytes.
 * @module
 */
import { blobId, isObjectId, type ObjectId } from './hash.js';
import { artifactPathProblem, compareUtf8 } from './paths.js';
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
 * Decode a manifest already validated when it was stored (its id is its hash, checked on
 * arrival): split lines, skip the per-path checks. `fsck` decodes with full validation.
 */
function decodeTrusted(bytes: Uint8Array): Manifest {
  const m: Manifest = new Map();
  const text = dec.decode(bytes);
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    m.set(text.slice(start + 66, end), text.slice(start, start + 64));
    start = end + 1;
  }
  return m;
}
