/**
 * Manifests stored as a tree of content-defined chunks (SPEC.md §3.1), so that a version costs
 * what it changed: an edit rewrites one leaf and the nodes above it, every other chunk is shared
 * with the versions before it.
 *
 * - A **leaf** is a run of whole manifest lines (§2.2 bytes, unchanged). The leaves of a
 *   manifest, concatenated in order, are its bytes; so the snapshot hash is untouched.
 * - A leaf ends after a line whose {@link lineHash} is below 2^32/16 (one line in 16 on
 *   average), or after 128 lines. The boundary depends on the line alone, so an edit moves at
 *   most the boundaries next to it (content-defined chunking, as in prolly trees).
 * - A **node** lists chunks of the level below: `tree <level>\n` then one line per child,
 *   `<64 hex id> SP <entries> SP <bytes> LF` (entries: manifest lines below it; bytes: their
 *   size). A node ends after a child whose id's first 4 bytes, as a big-endian u32, are below
 *   2^32/16, or after 128 children. Levels are built until one chunk remains: the root.
 * - The empty manifest has no chunk (root null); a manifest of one leaf has that leaf as root,
 *   whose id is then the snapshot hash's hex digits.
 *
 * Every chunk is an object like a blob (id = SHA-256 of its bytes). Pure: no I/O.
 * @module
 */
import { blobId, type ObjectId } from './hash.js';

/** One line (leaf) or one child (node) in this many ends a chunk, on average. */
export const CHUNK_AVERAGE = 16;
/** Most lines in a leaf, or children in a node. */
export const CHUNK_MAX = 128;
const LIMIT = 0x1_0000_0000 / CHUNK_AVERAGE;

export interface Chunk {
  id: ObjectId;
  bytes: Uint8Array;
}

export interface ChildRef {
  id: ObjectId;
  /** Manifest lines below this child. */
  entries: number;
  /** Manifest bytes below this child. */
  bytes: number;
}

export interface ChunkedManifest {
  /** The root chunk (null: the empty manifest). */
  root: ObjectId | null;
  /** Tree height: 0 when the root is a leaf (or there is none). */
  height: number;
  /** Every chunk, leaves first, then each level of nodes; in manifest order within a level. */
  chunks: Chunk[];
  /** The leaves in manifest order (the first `leaves.length` of `chunks`). */
  leaves: ChildRef[];
}

/**
 * 32-bit FNV-1a of `bytes[start, end)`, finished with MurmurHash3's fmix32 so that every bit
 * depends on every input byte. @example lineHash(enc('a'), 0, 1) // see SPEC §3.1 vectors
 */
export function lineHash(bytes: Uint8Array, start: number, end: number): number {
  let h = FNV_OFFSET;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i]!, FNV_PRIME);
  return fmix32(h);
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** MurmurHash3's finaliser, as an unsigned 32-bit number. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const NODE_MAGIC = new TextEncoder().encode('tree ');
const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

/** True when `bytes` are a node (`tree <level>\n…`), not a leaf (leaves start with a hex digit). */
export function isNode(bytes: Uint8Array): boolean {
  if (bytes.length < NODE_MAGIC.length) return false;
  for (let i = 0; i < NODE_MAGIC.length; i++) if (bytes[i] !== NODE_MAGIC[i]) return false;
  return true;
}

export function encodeNode(level: number, children: readonly ChildRef[]): Uint8Array {
  let s = `tree ${level}\n`;
  for (const c of children) s += `${c.id} ${c.entries} ${c.bytes}\n`;
  return enc.encode(s);
}

const NODE_LINE = /^([0-9a-f]{64}) (0|[1-9][0-9]{0,9}) (0|[1-9][0-9]{0,15})$/;

/**
 * Decode a node. @throws Error (with what is wrong) when the bytes are not a well-formed node;
 * callers turn it into STORE_CORRUPT or an fsck problem.
 */
export function decodeNode(bytes: Uint8Array): { level: number; children: ChildRef[] } {
  let text: string;
  try { text = dec.decode(bytes); } catch { throw new Error('tree node is not UTF-8'); }
  if (!text.endsWith('\n')) throw new Error('tree node does not end with a newline');
  const lines = text.slice(0, -1).split('\n');
  const m = /^tree ([1-9][0-9]?)$/.exec(lines[0]!);
  if (!m) throw new Error('tree node has no valid header');
  if (lines.length < 2) throw new Error('tree node has no child');
  const children: ChildRef[] = [];
  for (let i = 1; i < lines.length; i++) {
    const l = NODE_LINE.exec(lines[i]!);
    if (!l) throw new Error(`tree node line ${i + 1} is malformed`);
    children.push({ id: l[1]!, entries: Number(l[2]), bytes: Number(l[3]) });
  }
  return { level: Number(m[1]), children };
}

/**
 * Split manifest bytes (§2.2, already valid) into the chunk tree. Deterministic: the same
 * manifest always gives the same chunks, whatever history led to it.
 */
export function chunkManifest(bytes: Uint8Array, hash: (b: Uint8Array) => ObjectId = blobId): ChunkedManifest {
  if (bytes.length === 0) return { root: null, height: 0, chunks: [], leaves: [] };
  const chunks: Chunk[] = [];
  const leaves: ChildRef[] = [];
  const end = chunkLeaves(bytes, 0, chunks, leaves, hash, () => false);
  if (end !== bytes.length) throw new Error('manifest bytes do not end with a newline');
  return withNodes(chunks, leaves, hash);
}

/**
 * Cut leaves from `bytes` starting at `from` (a leaf boundary), appending to `chunks` and
 * `leaves`, until the end or until a boundary at which `stop(offset)` is true. Returns the
 * offset reached. Every line is read once: its `lineHash` is computed in the same pass that
 * finds its end (this runs on every push over the part of the manifest it must cut).
 */
function chunkLeaves(bytes: Uint8Array, from: number, chunks: Chunk[], leaves: ChildRef[], hash: (b: Uint8Array) => ObjectId, stop: (offset: number) => boolean): number {
  let start = from, lines = 0;
  let h = FNV_OFFSET;
  const n = bytes.length;
  for (let i = from; i < n; i++) {
    const c = bytes[i]!;
    h = Math.imul(h ^ c, FNV_PRIME);
    if (c !== 0x0a) continue;
    lines++;
    const end = i + 1;
    if (lines >= CHUNK_MAX || end === n || fmix32(h) < LIMIT) {
      const b = bytes.subarray(start, end);
      const id = hash(b);
      chunks.push({ id, bytes: b });
      leaves.push({ id, entries: lines, bytes: end - start });
      start = end;
      lines = 0;
      if (end < n && stop(end)) return end;
    }
    h = FNV_OFFSET;
  }
  return start;
}

/** Add the node levels above `leaves` (already in `chunks`) up to the root. */
function withNodes(chunks: Chunk[], leaves: ChildRef[], hash: (b: Uint8Array) => ObjectId): ChunkedManifest {
  let level = leaves;
  let height = 0;
  while (level.length > 1) {
    height++;
    const next: ChildRef[] = [];
    let group: ChildRef[] = [];
    for (let i = 0; i < level.length; i++) {
      const c = level[i]!;
      group.push(c);
      if (group.length >= CHUNK_MAX || i === level.length - 1 || parseInt(c.id.slice(0, 8), 16) < LIMIT) {
        const b = encodeNode(height, group);
        const id = hash(b);
        chunks.push({ id, bytes: b });
        next.push({ id, entries: group.reduce((n, x) => n + x.entries, 0), bytes: group.reduce((n, x) => n + x.bytes, 0) });
        group = [];
      }
    }
    level = next;
  }
  return { root: level[0]!.id, height, chunks, leaves };
}

/**
 * `chunkManifest(next)`, computed from the leaves of a manifest chunked before (`prev`: its bytes
 * and the leaves `chunkManifest` gave it). A boundary depends only on the lines since the
 * previous boundary, so wherever `next` has a boundary followed by the exact bytes of an old
 * leaf, that leaf follows, unchanged: its id is reused without hashing. Elsewhere leaves are cut
 * as usual, one at a time, until the bytes after a cut start an old leaf again (an old leaf is
 * found by its first line: paths are unique). Only the leaves around changes are hashed, and the
 * nodes are rebuilt from the leaves (a few dozen small chunks at 10k artifacts). Same result as
 * `chunkManifest(next)`.
 */
export function rechunkManifest(prev: { bytes: Uint8Array; leaves: readonly ChildRef[] }, next: Uint8Array, hash: (b: Uint8Array) => ObjectId = blobId): ChunkedManifest {
  const pl = prev.leaves;
  if (next.length === 0 || pl.length === 0) return chunkManifest(next, hash);
  const a = prev.bytes;
  const starts: number[] = [];
  const byFirstLine = new Map<string, number>();
  for (let k = 0, at = 0; k < pl.length; at += pl[k++]!.bytes) {
    starts.push(at);
    byFirstLine.set(lineAt(a, at), k);
  }
  const chunks: Chunk[] = [];
  const leaves: ChildRef[] = [];
  /** The old leaf that starts at `q` in `next` (appended), and where it ends; undefined if none does. */
  const reuse = (q: number): number | undefined => {
    const k = byFirstLine.get(lineAt(next, q));
    if (k === undefined) return undefined;
    const leaf = pl[k]!, end = q + leaf.bytes;
    if (end > next.length) return undefined;
    if (k === pl.length - 1 && end !== next.length) return undefined; // it may have ended only because the manifest did
    if (!sameBytes(a.subarray(starts[k]!, starts[k]! + leaf.bytes), next.subarray(q, end))) return undefined;
    leaves.push(leaf);
    chunks.push({ id: leaf.id, bytes: next.subarray(q, end) });
    return end;
  };
  let q = 0;
  while (q < next.length) {
    const end = reuse(q) ?? chunkLeaves(next, q, chunks, leaves, hash, () => true);
    if (end === q) throw new Error('manifest bytes do not end with a newline');
    q = end;
  }
  return withNodes(chunks, leaves, hash);
}

/** The line starting at `at` (without its LF; to the end when there is none), as text. */
function lineAt(b: Uint8Array, at: number): string {
  const nl = b.indexOf(0x0a, at);
  return latin1.decode(b.subarray(at, nl < 0 ? b.length : nl));
}

const latin1 = new TextDecoder('latin1');

/** Whether two byte ranges hold the same bytes (a native compare). */
export function sameBytes(x: Uint8Array, y: Uint8Array): boolean {
  return x.length === y.length && Buffer.from(x.buffer, x.byteOffset, x.length).equals(Buffer.from(y.buffer, y.byteOffset, y.length));
}

/** The manifest lines' blob ids in a leaf (for reachability: gc, fsck). */
export function leafBlobIds(leaf: Uint8Array): ObjectId[] {
  const out: ObjectId[] = [];
  let lineStart = 0;
  for (let i = 0; i < leaf.length; i++) {
    if (leaf[i] !== 0x0a) continue;
    if (i - lineStart > 66) out.push(String.fromCharCode(...leaf.subarray(lineStart, lineStart + 64)));
    lineStart = i + 1;
  }
  return out;
}
