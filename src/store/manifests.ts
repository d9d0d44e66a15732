/**
 * Snapshot manifests stored as chunk trees (SPEC.md §3.1) in a LevelDB keyspace: the chunks
 * are ordinary objects (`o!<id>`), and `m!<snapshot hex>` names the root chunk of each stored
 * manifest (an empty value: the empty manifest). Used by the local store and every remote store.
 *
 * A store written before chunking (format 1) kept each manifest whole as `o!<snapshot hex>`;
 * reads fall back to it, and {@link convertLegacy} turns such manifests into trees.
 * @module
 */
import { chunkManifest, decodeNode, isNode, leafBlobIds, type ChildRef } from '../model/chunks.js';
import { fail } from '../model/errors.js';
import { isObjectId, type ObjectId } from '../model/hash.js';
import { manifestObjectId, snapshotHashOf, EMPTY_SNAPSHOT, type SnapshotHash } from '../model/manifest.js';
import { dec, enc, type Db } from './db.js';
import type { BatchOp } from './objects.js';

/** How a stored manifest is held: a chunk tree, or (format 1) one whole object. */
export type ManifestRoot = { root: ObjectId | null; legacy: false } | { root: ObjectId; legacy: true };

export interface TreeWalk {
  /** Every chunk of the tree (nodes and leaves), root first. */
  chunks: ObjectId[];
  /** The manifest bytes (the leaves, concatenated). */
  bytes: Uint8Array;
}

const corrupt = (snapshot: string, why: string): never =>
  fail('STORE_CORRUPT', `the stored manifest of ${snapshot} is damaged (${why}); run \`agentsync fsck\``, { snapshot });

export class ManifestStore {
  private readonly o: string;
  private readonly m: string;
  constructor(private readonly db: Db, prefix = '') {
    this.o = prefix + 'o!';
    this.m = prefix + 'm!';
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
        return { chunks, bytes: out };
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
    const t = chunkManifest(bytes);
    const unique = [...new Map(t.chunks.map((c) => [c.id, c])).values()];
    const have = await this.db.hasMany(unique.map((c) => this.o + c.id));
    const ops: BatchOp[] = unique.filter((_, i) => !have[i]).map((c) => ({ type: 'put', key: this.o + c.id, value: c.bytes }));
    ops.push({ type: 'put', key: this.m + hex, value: enc.encode(t.root ?? '') });
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
    const t = chunkManifest(bytes);
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
