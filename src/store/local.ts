/**
 * The workspace's local store, `.agentsync/` (LevelDB). Keys:
 * `o!<hex>` objects (blobs and manifests) · `base!<remote>` snapshot hash of the per-artifact
 * base (last synced) · `track!<remote>` JSON of the last fetch · `stat` the stat cache ·
 * `undo` the journal of the last overwrite.
 * @module
 */
import { decodeManifest, encodeManifest, manifestObjectId, snapshotHashOf, EMPTY_SNAPSHOT, type Manifest, type SnapshotHash } from '../model/manifest.js';
import type { ObjectId } from '../model/hash.js';
import type { Head, Version } from '../model/version.js';
import { dec, enc, jsonValue, openDb, parseJson, type Db } from './db.js';
import { ObjectStore, commit, type BatchOp } from './objects.js';

/** What the last fetch saw of one remote. */
export interface Tracking {
  url: string;
  fetchedAt: string;
  head: Head;
  versions: Version[];
  /** Snapshot of the latest published version (its manifest and blobs are stored locally). */
  latestSnapshot: SnapshotHash | null;
}

/**
 * One file the last overwrite replaced: its previous blob (null: it did not exist), and when
 * the operation also moved the base, the previous base blob.
 */
export interface UndoEntry {
  path: string;
  id: ObjectId | null;
  base?: ObjectId | null;
}

export interface UndoJournal {
  at: string;
  op: string;
  /** The remote whose base the operation moved (entries then carry `base`). */
  remote?: string;
  entries: UndoEntry[];
}

export interface StatEntry {
  id: ObjectId;
  size: number;
  mtimeMs: number;
  ino: number;
}

export interface StatCache {
  /** When the cache was written (ms); entries with mtime at or after it are re-read (racy). */
  writtenAt: number;
  /** Snapshot hash of exactly these entries ('' when unknown). */
  snapshot: string;
  entries: Map<string, StatEntry>;
}

export class LocalStore {
  readonly objects: ObjectStore;
  private constructor(readonly db: Db) {
    this.objects = new ObjectStore(db);
  }

  static async open(dir: string, waitMs?: number): Promise<LocalStore> {
    return new LocalStore(await openDb(dir, { what: 'the workspace store', ...(waitMs !== undefined ? { waitMs } : {}) }));
  }

  close(): Promise<void> {
    return this.db.close();
  }

  /** Store a manifest as an object; returns its snapshot hash. */
  manifestOps(m: Manifest): { ops: BatchOp[]; snapshot: SnapshotHash } {
    return this.encodedManifestOps(encodeManifest(m));
  }

  /** Store encoded manifest bytes whose snapshot hash is already known (no second hash). */
  encodedManifestOps(bytes: Uint8Array, known?: SnapshotHash): { ops: BatchOp[]; snapshot: SnapshotHash } {
    const snapshot = known ?? snapshotHashOf(bytes);
    const ops: BatchOp[] = bytes.length ? [{ type: 'put', key: 'o!' + manifestObjectId(snapshot), value: bytes }] : [];
    return { ops, snapshot };
  }

  async manifest(snapshot: SnapshotHash | null): Promise<Manifest> {
    if (snapshot === null || snapshot === EMPTY_SNAPSHOT) return new Map();
    return decodeManifest(await this.objects.need(manifestObjectId(snapshot), 'snapshot manifest'), { trusted: true });
  }

  async baseSnapshot(remote: string): Promise<SnapshotHash> {
    const v = await this.db.get('base!' + remote);
    return v ? dec.decode(v) : EMPTY_SNAPSHOT;
  }

  /** Ops that store `m` and point the base of `remote` at it. Commit objects first. */
  baseOps(remote: string, m: Manifest): { ops: BatchOp[]; snapshot: SnapshotHash } {
    const { ops, snapshot } = this.manifestOps(m);
    ops.push({ type: 'put', key: 'base!' + remote, value: enc.encode(snapshot) });
    return { ops, snapshot };
  }

  async tracking(remote: string): Promise<Tracking | undefined> {
    return parseJson<Tracking>(await this.db.get('track!' + remote), `fetch record of ${remote}`);
  }

  trackingOp(remote: string, t: Tracking): BatchOp {
    return { type: 'put', key: 'track!' + remote, value: jsonValue(t) };
  }

  async forgetRemote(remote: string): Promise<void> {
    await commit(this.db, [{ type: 'del', key: 'base!' + remote }, { type: 'del', key: 'track!' + remote }]);
  }

  /** Every base and tracking ref, for fsck. */
  async refs(): Promise<{ key: string; value: string }[]> {
    const out: { key: string; value: string }[] = [];
    for await (const [k, v] of this.db.iterator({ gte: 'b', lt: 'u' })) {
      if (k.startsWith('base!') || k.startsWith('track!')) out.push({ key: k, value: dec.decode(v) });
    }
    return out;
  }

  async undo(): Promise<UndoJournal | undefined> {
    return parseJson<UndoJournal>(await this.db.get('undo'), 'undo journal');
  }

  undoOp(j: UndoJournal | null): BatchOp {
    return j ? { type: 'put', key: 'undo', value: jsonValue(j) } : { type: 'del', key: 'undo' };
  }

  async statCache(): Promise<StatCache> {
    const v = await this.db.get('stat');
    const entries = new Map<string, StatEntry>();
    if (!v) return { writtenAt: 0, snapshot: '', entries };
    const lines = dec.decode(v).split('\n');
    const [w, snapshot = ''] = lines[0]!.split(' ');
    const writtenAt = Number(w);
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      if (!line) continue;
      const t1 = line.indexOf('\t'), t2 = line.indexOf('\t', t1 + 1), t3 = line.indexOf('\t', t2 + 1), t4 = line.indexOf('\t', t3 + 1);
      if (t4 < 0) return { writtenAt: 0, snapshot: '', entries: new Map() }; // damaged cache: rebuild by re-reading
      entries.set(line.slice(t4 + 1), {
        id: line.slice(0, t1), size: Number(line.slice(t1 + 1, t2)), mtimeMs: Number(line.slice(t2 + 1, t3)), ino: Number(line.slice(t3 + 1, t4)),
      });
    }
    return { writtenAt: Number.isFinite(writtenAt) ? writtenAt : 0, snapshot, entries };
  }

  async saveStatCache(c: StatCache): Promise<void> {
    let s = `${c.writtenAt} ${c.snapshot}\n`;
    for (const [p, e] of c.entries) s += `${e.id}\t${e.size}\t${e.mtimeMs}\t${e.ino}\t${p}\n`;
    await this.db.put('stat', enc.encode(s));
  }
}
