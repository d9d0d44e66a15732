/**
 * Snapshot manifests stored as chunk trees (SPEC.md §3.1) in a LevelDB keyspace: the chunks
 * are ordinary objects (`o!<id>`), and `m!<snapshot hex>` names the root chunk of each stored
 * manifest (an empty value: the empty manifest). Used by the local store and every remote store.
 *
 * A store written before chunking (format 1) kept each manifest whole as `o!<snapshot hex>`;
 * reads fall back to it, and {@link convertLegacy} turns such manifests into trees.
 * @module
 */
import { chunkManifest, decodeNode, isNode, leafBlobIds, rechunkManifest, sameBytes, type ChildRef, type ChunkedManifest } from '../model/chunks.js';
import { fail } from '../model/errors.js';
import { isObjectId, type ObjectId } from '../model/hash.js';
import { manifestObjectId, snapshotHashOf, EMPTY_SNAPSHOT, type SnapshotHash } from '../model/manifest.js';
import { blobId } from '../model/hash.js';
import { dec, enc, type Db } from './db.js';
import type { BatchOp } from './objects.js';
import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';

/** How a stored manifest is held: a chunk tree, or (format 1) one whole object. */
export type ManifestRoot = { root: ObjectId | null; legacy: false } | { root: ObjectId; legacy: true };

export interface TreeWalk {
  /** Every chunk of the tree (nodes and leaves), root first. */
  chunks: ObjectId[];
  /** The manifest bytes (the leaves, concatenated). */
  bytes: Uint8Array;
  /** The leaves in order, with their line counts and sizes. */
  leaves: ChildRef[];
}

const corrupt = (snapshot: string, why: string): never =>
  fail('STORE_CORRUPT', `the stored manifest of ${snapshot} is damaged (${why}); run \`agentsync fsck\``, { snapshot });

/**
 * A manifest whose whole tree is known to be stored: its bytes, its root and every chunk id of
 * its tree (SPEC §3.1, "The hot manifests").
 */
interface Hot {
  snapshot: SnapshotHash;
  root: ObjectId;
  bytes: Uint8Array;
  chunks: ReadonlySet<ObjectId>;
  /** Its leaves in order: the next manifest is cut from them ({@link rechunkManifest}). */
  leaves: readonly ChildRef[];
}

/** A hot file's entry: named, checked (ids sum, snapshot hash) only when first used. */
interface FileEntry {
  snapshot: string;
  root: string;
  load(): Hot | undefined;
}

/**
 * How many manifests the hot file keeps: a fetch reads the last fetched manifest and stores the
 * new one; the pull after it reads the first again (its base); the push after that, the second.
 */
export const HOT_KEEP = 2;

export interface ManifestStoreOptions {
  /**
   * Keep the manifests last read or stored, in memory and (with a path) in this file between
   * processes: the next command's parent is read from it instead of from every chunk, and its
   * chunks are known present without a lookup. A cache: checked before use, never trusted.
   */
  hot?: string | true;
  /** The largest hot file read (default {@link HOT_FILE_MAX}); a larger one is ignored unread. */
  hotMax?: number;
}

export class ManifestStore {
  private readonly o: string;
  private readonly m: string;
  private readonly hotFile: string | undefined;
  private readonly hotMax: number;
  /** Whether hot manifests are kept at all. */
  private readonly keepHot: boolean;
  /** Known stored, most recently used first. */
  private hots: Hot[] = [];
  /** Trees put by {@link putOps}, hot once their `m!` key is seen stored. */
  private staged: Hot[] = [];
  /** The hot file's entries, read at most once per instance (undefined: not read yet). */
  private fileEntries: FileEntry[] | undefined;
  constructor(private readonly db: Db, prefix = '', opts: ManifestStoreOptions = {}) {
    this.o = prefix + 'o!';
    this.m = prefix + 'm!';
    this.keepHot = opts.hot !== undefined;
    this.hotFile = typeof opts.hot === 'string' ? opts.hot : undefined;
    this.hotMax = opts.hotMax ?? HOT_FILE_MAX;
  }

  /** Whether `m!<snapshot>` names `root`: the tree is stored (gc forgets the key first). */
  private async storedAs(snapshot: SnapshotHash, root: ObjectId): Promise<boolean> {
    const r = await this.root(snapshot);
    return r !== undefined && !r.legacy && r.root === root;
  }

  private use(h: Hot): Hot {
    this.hots = [h, ...this.hots.filter((x) => x.snapshot !== h.snapshot)].slice(0, HOT_KEEP);
    return h;
  }

  private file(): FileEntry[] {
    if (this.fileEntries === undefined) this.fileEntries = this.hotFile ? readHotFile(this.hotFile, this.hotMax) : [];
    return this.fileEntries;
  }

  /**
   * The hot manifest of `snapshot` when its tree is known stored: one in memory, one just put
   * once its `m!` key names its root, or the file's after the same check.
   */
  private async hotFor(snapshot: SnapshotHash): Promise<Hot | undefined> {
    if (!this.keepHot) return undefined;
    const mem = this.hots.find((h) => h.snapshot === snapshot);
    if (mem) return this.use(mem);
    for (const c of [...this.staged, ...this.file()]) {
      if (c.snapshot !== snapshot) continue;
      const h = 'load' in c ? c.load() : c;
      if (h && (await this.storedAs(snapshot, h.root))) return this.use(h);
    }
    return undefined;
  }

  /** Whether a chunk is known stored: in the tree of a hot manifest (the file's, once checked). */
  private async presentChunks(): Promise<(id: ObjectId) => boolean> {
    if (!this.keepHot) return () => false;
    if (this.hots.length === 0) for (const e of this.file()) await this.hotFor(e.snapshot);
    const sets = this.hots.map((h) => h.chunks);
    return (id) => sets.some((x) => x.has(id));
  }

  /**
   * Write the hot manifests to the hot file (temp file + rename; no fsync: a torn file fails its
   * checks and is ignored). Call before closing the database. Never throws: it is a cache.
   */
  async persist(): Promise<void> {
    if (!this.hotFile || (this.hots.length === 0 && this.staged.length === 0)) return; // nothing used: the file stands
    try {
      for (const h of this.staged) if (await this.storedAs(h.snapshot, h.root)) this.use(h);
      this.staged = [];
      const keep = this.hots.slice(0, HOT_KEEP);
      const had = new Set(this.file().map((e) => e.snapshot));
      if (keep.length === 0 || (keep.length === had.size && keep.every((h) => had.has(h.snapshot)))) return;
      writeHotFile(this.hotFile, keep);
      this.fileEntries = keep.map((h) => ({ snapshot: h.snapshot, root: h.root, load: () => h }));
    } catch { /* a cache: the next command reads the chunks */ }
  }

  /** Where the manifest of `snapshot` is stored; undefined when it is not. */
  async root(snapshot: SnapshotHash): Promise<ManifestRoot | undefined> {
    if (snapshot === EMPTY_SNAPSHOT) return { root: null, legacy: false };
    const hex = manifestObjectId(snapshot);
    const v = await this.db.get(this.m + hex);
    if (v !== undefined) {
      const root = dec.decode(v);
      if (root === '') return { root: null, legacy: false };
      if (!isObjectId(root)) corrupt(snapshot, 'its root is not an object id');
      return { root, legacy: false };
    }
    return (await this.db.has(this.o + hex)) ? { root: hex, legacy: true } : undefined;
  }

  async has(snapshot: SnapshotHash): Promise<boolean> {
    return (await this.root(snapshot)) !== undefined;
  }

  /** The manifest bytes of `snapshot`, undefined when not stored. @throws STORE_CORRUPT */
  async get(snapshot: SnapshotHash): Promise<Uint8Array | undefined> {
    const hot = await this.hotFor(snapshot);
    if (hot) return hot.bytes;
    const r = await this.root(snapshot);
    if (!r) return undefined;
    if (r.root === null) return new Uint8Array(0);
    if (r.legacy) return this.db.get(this.o + r.root);
    const w = await this.walk(snapshot, r.root);
    if (this.keepHot) this.use({ snapshot, root: r.root, bytes: w.bytes, chunks: new Set(w.chunks), leaves: w.leaves });
    return w.bytes;
  }

  /** As {@link get}, always from the stored tree (fsck: the hot copy is not what it checks). */
  async stored(snapshot: SnapshotHash): Promise<Uint8Array | undefined> {
    const r = await this.root(snapshot);
    if (!r) return undefined;
    if (r.root === null) return new Uint8Array(0);
    if (r.legacy) return this.db.get(this.o + r.root);
    return (await this.walk(snapshot, r.root)).bytes;
  }

  /** @throws OBJECT_MISSING when the manifest is not stored, STORE_CORRUPT when its tree is damaged */
  async bytes(snapshot: SnapshotHash): Promise<Uint8Array> {
    const b = await this.get(snapshot);
    if (b === undefined) fail('OBJECT_MISSING', `snapshot manifest ${manifestObjectId(snapshot).slice(0, 12)} is missing from the store; run \`agentsync fetch\`, then \`agentsync fsck\``, { id: manifestObjectId(snapshot) });
    return b;
  }

  /**
   * Read a tree level by level (one getMany per level), checking its shape: every node decodes,
   * its level is one more than its children's, and the counts it records match.
   * @throws OBJECT_MISSING (a chunk is absent), STORE_CORRUPT (a malformed tree)
   */
  async walk(snapshot: SnapshotHash, root: ObjectId): Promise<TreeWalk> {
    const chunks: ObjectId[] = [];
    let ids = [root];
    let expect: ChildRef[] | undefined;
    let level: number | undefined;
    for (;;) {
      chunks.push(...ids);
      const vals = await this.db.getMany(ids.map((id) => this.o + id));
      const missing = vals.findIndex((v) => v === undefined);
      if (missing >= 0) fail('OBJECT_MISSING', `chunk ${ids[missing]!.slice(0, 12)} of snapshot ${manifestObjectId(snapshot).slice(0, 12)} is missing from the store; run \`agentsync fsck\``, { id: ids[missing], snapshot });
      const nodes = vals.map((v) => isNode(v!));
      if (nodes.some((n) => n !== nodes[0])) corrupt(snapshot, 'nodes and leaves at the same depth');
      if (!nodes[0]) {
        if (level !== undefined && level !== 0) corrupt(snapshot, 'leaves above level 0');
        const total = vals.reduce((n, v) => n + v!.length, 0);
        const out = new Uint8Array(total);
        let at = 0;
        for (let i = 0; i < vals.length; i++) {
          const v = vals[i]!;
          if (expect && expect[i]!.bytes !== v.length) corrupt(snapshot, 'a leaf size differs from its node');
          out.set(v, at);
          at += v.length;
        }
        return { chunks, bytes: out, leaves: expect ?? [{ id: root, entries: lineCount(out), bytes: out.length }] };
      }
      const next: ChildRef[] = [];
      for (let i = 0; i < vals.length; i++) {
        let node: ReturnType<typeof decodeNode>;
        try { node = decodeNode(vals[i]!); } catch (e) { return corrupt(snapshot, (e as Error).message); }
        if (level !== undefined && node.level !== level) corrupt(snapshot, 'node levels differ');
        level = node.level;
        if (expect) {
          const e = expect[i]!;
          if (node.children.reduce((n, c) => n + c.bytes, 0) !== e.bytes || node.children.reduce((n, c) => n + c.entries, 0) !== e.entries) corrupt(snapshot, 'node counts differ from its parent');
        }
        next.push(...node.children);
      }
      level = level! - 1;
      expect = next;
      ids = next.map((c) => c.id);
    }
  }

  /**
   * Ops that store manifest `bytes` (snapshot hash `known`, or computed): the chunks this store
   * lacks, then `m!` naming the root. Nothing when the manifest is stored already. Commit them
   * in a synced batch before any ref names the snapshot (objects first, as always).
   */
  async putOps(bytes: Uint8Array, known?: SnapshotHash): Promise<{ ops: BatchOp[]; snapshot: SnapshotHash }> {
    const snapshot = known ?? snapshotHashOf(bytes);
    if (snapshot === EMPTY_SNAPSHOT) return { ops: [], snapshot };
    const hex = manifestObjectId(snapshot);
    if (await this.db.has(this.m + hex)) return { ops: [], snapshot };
    // Cut from the leaves of the manifest used last (the parent, for a push or fetch).
    const t = chunked(snapshot, bytes, this.keepHot ? this.hots[0] : undefined);
    // The chunks of the hot tree are stored (most of a one-change version's): look up the rest.
    const present = await this.presentChunks();
    const unique = [...new Map(t.chunks.filter((c) => !present(c.id)).map((c) => [c.id, c])).values()];
    const have = await this.db.hasMany(unique.map((c) => this.o + c.id));
    const ops: BatchOp[] = unique.filter((_, i) => !have[i]).map((c) => ({ type: 'put', key: this.o + c.id, value: c.bytes }));
    ops.push({ type: 'put', key: this.m + hex, value: enc.encode(t.root ?? '') });
    if (this.keepHot && t.root !== null) this.staged.push({ snapshot, root: t.root, bytes, chunks: new Set(t.chunks.map((c) => c.id)), leaves: t.leaves });
    return { ops, snapshot };
  }

  /** Every snapshot with an `m!` key (hex digits as stored). */
  async *snapshots(): AsyncGenerator<{ snapshot: SnapshotHash; root: string }> {
    for await (const [k, v] of this.db.iterator({ gte: this.m, lt: this.m.slice(0, -1) + '"' })) {
      yield { snapshot: 'sha256:' + k.slice(this.m.length), root: dec.decode(v) };
    }
  }

  /** Op that forgets the `m!` key of `snapshot` (gc; the chunks go when nothing reaches them). */
  forgetOp(snapshot: SnapshotHash): BatchOp {
    // Its chunks may go: it is no longer known stored (the file's copy fails its m! check).
    this.hots = this.hots.filter((h) => h.snapshot !== snapshot);
    this.staged = this.staged.filter((h) => h.snapshot !== snapshot);
    this.fileEntries = this.file().filter((e) => e.snapshot !== snapshot);
    return { type: 'del', key: this.m + manifestObjectId(snapshot) };
  }

  /**
   * Every object `snapshot` reaches: its chunks and the blobs it names. Adds to `into`.
   * @throws OBJECT_MISSING, STORE_CORRUPT
   */
  async reach(snapshot: SnapshotHash, into: Set<ObjectId>): Promise<void> {
    const r = await this.root(snapshot);
    if (!r || r.root === null) return;
    if (r.legacy) {
      into.add(r.root);
      const b = await this.db.get(this.o + r.root);
      if (b) for (const id of leafBlobIds(b)) into.add(id);
      return;
    }
    if (into.has(r.root)) return; // a tree already walked (versions share whole trees often)
    const w = await this.walk(snapshot, r.root);
    for (const id of w.chunks) into.add(id);
    for (const id of leafBlobIds(w.bytes)) into.add(id);
  }
}

/**
 * The chunk tree of the manifest last stored, by snapshot hash: a push to a directory remote
 * stores the same manifest in the workspace and in the remote store, in one process, and
 * chunking 10k lines is the larger part of a one-change push's CPU. Chunking is a pure function
 * of the bytes, which the snapshot hash names.
 */
let lastChunked: { snapshot: SnapshotHash; bytes: Uint8Array; tree: ChunkedManifest } | undefined;

function chunked(snapshot: SnapshotHash, bytes: Uint8Array, from?: Hot): ChunkedManifest {
  // The same bytes, not only the same name (a caller's `known` is taken as given).
  if (lastChunked?.snapshot !== snapshot || (lastChunked.bytes !== bytes && !sameBytes(lastChunked.bytes, bytes))) {
    lastChunked = { snapshot, bytes, tree: from ? rechunkManifest(from, bytes) : chunkManifest(bytes) };
  }
  return lastChunked.tree;
}

function lineCount(b: Uint8Array): number {
  let n = 0;
  for (let i = b.indexOf(0x0a); i >= 0; i = b.indexOf(0x0a, i + 1)) n++;
  return n;
}


const HOT_MAGIC = 'agentsync-hot-manifests 1';

/** The largest hot file read; a larger one is ignored unread. */
export const HOT_FILE_MAX = 256 * 1024 * 1024;

/** The hot file's name in a store's LevelDB folder (LevelDB leaves names it does not own alone). */
export const HOT_FILE = 'agentsync-hot-manifests';

const LEAF_LINE = /^([0-9a-f]{64}) ([1-9][0-9]{0,9}) ([1-9][0-9]{0,15})$/;

/**
 * The hot file (SPEC §3.1): `agentsync-hot-manifests 1` LF, the number of entries LF, then each
 * entry: its snapshot hash LF, root id LF, number of leaves LF, number of nodes LF, manifest byte
 * length LF, SHA-256 of its chunk lines LF; the chunk lines — each leaf in order as
 * `<64 hex id> SP <lines> SP <bytes>` LF, then each node as `<64 hex id>` LF — and the manifest
 * bytes.
 */
function writeHotFile(path: string, hots: readonly Hot[]): void {
  const parts: Uint8Array[] = [enc.encode(`${HOT_MAGIC}\n${hots.length}\n`)];
  for (const h of hots) {
    const leafIds = new Set(h.leaves.map((l) => l.id));
    const nodes = [...h.chunks].filter((id) => !leafIds.has(id));
    const lines = enc.encode(h.leaves.map((l) => `${l.id} ${l.entries} ${l.bytes}\n`).join('') + nodes.map((id) => id + '\n').join(''));
    parts.push(enc.encode(`${h.snapshot}\n${h.root}\n${h.leaves.length}\n${nodes.length}\n${h.bytes.length}\n${blobId(lines)}\n`), lines, h.bytes);
  }
  const tmp = path + '.tmp';
  try {
    writeFileSync(tmp, Buffer.concat(parts));
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * The hot file's entries, each checked when first loaded (its chunk lines against their sum and
 * its leaves against its bytes, its bytes against its snapshot hash); [] when the file is absent
 * or its layout is broken.
 */
function readHotFile(path: string, max: number): FileEntry[] {
  let b: Uint8Array;
  try {
    // Never more than two manifests (11 MB each at 100k artifacts): a larger file is not ours.
    if ((statSync(path, { throwIfNoEntry: false })?.size ?? 0) > max) return [];
    const buf = readFileSync(path);
    b = new Uint8Array(buf.buffer, buf.byteOffset, buf.length); // what every other read gives: not a Buffer
  } catch { return []; }
  let at = 0;
  const line = (max = 100): string => {
    const nl = b.indexOf(0x0a, at);
    if (nl < 0 || nl - at > max) throw new Error('hot file: bad line');
    const s = dec.decode(b.subarray(at, nl));
    at = nl + 1;
    return s;
  };
  const count = (s: string): number => {
    if (!/^(0|[1-9][0-9]{0,9})$/.test(s)) throw new Error('hot file: bad count');
    return Number(s);
  };
  try {
    if (line() !== HOT_MAGIC) return [];
    const k = count(line());
    if (k > HOT_KEEP) return [];
    const out: FileEntry[] = [];
    for (let i = 0; i < k; i++) {
      const snapshot = line(), root = line(), nLeaves = count(line()), nNodes = count(line()), len = count(line()), sum = line();
      if (!snapshot.startsWith('sha256:') || !isObjectId(root) || nLeaves < 1) return [];
      const linesStart = at;
      for (let j = 0; j < nLeaves + nNodes; j++) line();
      const lines = b.subarray(linesStart, at);
      const bytes = b.subarray(at, at + len);
      at += len;
      if (at > b.length) return [];
      let loaded: Hot | null | undefined;
      out.push({
        snapshot, root,
        load() {
          if (loaded === undefined) loaded = checkEntry(snapshot, root, sum, lines, nLeaves, bytes) ?? null;
          return loaded ?? undefined;
        },
      });
    }
    return at === b.length ? out : [];
  } catch {
    return [];
  }
}

function checkEntry(snapshot: string, root: ObjectId, sum: string, lines: Uint8Array, nLeaves: number, bytes: Uint8Array): Hot | undefined {
  if (blobId(lines) !== sum) return undefined;
  const text = dec.decode(lines).split('\n');
  text.pop();
  const leaves: ChildRef[] = [];
  const chunks = new Set<ObjectId>();
  let total = 0;
  for (let i = 0; i < text.length; i++) {
    if (i < nLeaves) {
      const m = LEAF_LINE.exec(text[i]!);
      if (!m) return undefined;
      leaves.push({ id: m[1]!, entries: Number(m[2]), bytes: Number(m[3]) });
      total += Number(m[3]);
      chunks.add(m[1]!);
    } else {
      if (!isObjectId(text[i])) return undefined;
      chunks.add(text[i]!);
    }
  }
  if (total !== bytes.length || !chunks.has(root) || snapshotHashOf(bytes) !== snapshot) return undefined;
  // Each leaf is the bytes it says: the next manifest reuses these ids without hashing again.
  for (let i = 0, off = 0; i < leaves.length; off += leaves[i++]!.bytes) {
    if (blobId(bytes.subarray(off, off + leaves[i]!.bytes)) !== leaves[i]!.id) return undefined;
  }
  return { snapshot, root, bytes, chunks, leaves };
}

/**
 * Turn the whole-object manifests of a format-1 store into chunk trees: for each of
 * `snapshots` stored only as `o!<hex>`, write its chunks and `m!` key (synced). Returns the ids
 * of the old whole objects (not also a chunk of the new tree), which the caller deletes once
 * nothing else needs them. Idempotent: a rerun after a crash converts what is left.
 */
export async function convertLegacy(db: Db, prefix: string, snapshots: Iterable<SnapshotHash>): Promise<ObjectId[]> {
  const ms = new ManifestStore(db, prefix);
  const legacy: ObjectId[] = [];
  let pending: BatchOp[] = [];
  let size = 0;
  for (const snap of new Set(snapshots)) {
    const r = await ms.root(snap);
    if (!r) continue;
    const hex = manifestObjectId(snap);
    if (!r.legacy) {
      // Converted by a run that died before its last batch: the whole object is still there.
      if (r.root !== hex && (await db.has(prefix + 'o!' + hex))) legacy.push(hex);
      continue;
    }
    const bytes = (await db.get(prefix + 'o!' + r.root))!;
    if (snapshotHashOf(bytes) !== snap) fail('STORE_CORRUPT', `the stored manifest of ${snap} does not hash to it; run \`agentsync fsck\``, { snapshot: snap });
    const { ops } = await ms.putOps(bytes, snap);
    const t = chunked(snap, bytes);
    if (t.root !== r.root) legacy.push(r.root);
    pending.push(...ops);
    size += bytes.length;
    if (size > 8 * 1024 * 1024) {
      await db.batch(pending as never, { sync: true } as never);
      pending = [];
      size = 0;
    }
  }
  if (pending.length) await db.batch(pending as never, { sync: true } as never);
  return legacy;
}
