/**
 * The workspace's local store, `.agentsync/` (LevelDB). Keys:
 * `o!<hex>` objects (blobs and manifests) · `base!<remote>` snapshot hash of the per-artifact
 * base (last synced) · `track!<remote>` JSON of the last fetch · `stat` the stat cache ·
 * `undo` the journal of the last overwrite, `undo-pending` present while that overwrite has not
 * finished. `stat+` holds recent changes to the stat cache.
 * @module
 */
import { applyChanges, decodeManifest, encodeManifest, manifestObjectId, snapshotHashOf, EMPTY_SNAPSHOT, type Change, type Manifest, type SnapshotHash } from '../model/manifest.js';
import type { ObjectId } from '../model/hash.js';
import type { Head, Version } from '../model/version.js';
import { dec, enc, jsonValue, openDb, parseJson, type Db } from './db.js';
import { ObjectStore, commit, type BatchOp } from './objects.js';
import { decodeStat, statSave, type StatCache } from './stat-cache.js';

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
  /** Where the operation left the base (undo refuses when it has moved since: UNDO_STALE). */
  after?: ObjectId | null;
}

export interface UndoJournal {
  at: string;
  op: string;
  /** The remote whose base the operation moved (entries then carry `base`). */
  remote?: string;
  entries: UndoEntry[];
}

/**
 * Marks the journal at `undo` (the one with the same `at`) as belonging to an overwrite that has
 * not finished: written in the batch that writes the journal, before any file; deleted in the
 * batch that ends the operation. An operation that finds it merges into that journal instead of
 * replacing it, so `undo` still restores the state before the interrupted operation.
 */
export interface UndoPending {
  at: string;
  op: string;
  /** Set by `undo` itself: the journal it is restoring, so that a rerun of an interrupted undo resumes it. */
  undoing?: UndoJournal;
}

export type { StatCache, StatEntry } from './stat-cache.js';

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

  /** Op that points the base of `remote` at an already stored snapshot. */
  baseRefOp(remote: string, snapshot: SnapshotHash): BatchOp {
    return { type: 'put', key: 'base!' + remote, value: enc.encode(snapshot) };
  }

  /**
   * Ops that move the base of `remote` by `changes` (a path's base becomes `id`, or is dropped
   * when `id` is null). Pass `base` when the caller already holds the current base decoded.
   */
  async moveBaseOps(remote: string, changes: readonly Change[], base?: Manifest): Promise<BatchOp[]> {
    const current = base ?? (await this.manifest(await this.baseSnapshot(remote)));
    return this.baseOps(remote, applyChanges(current, changes)).ops;
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

  /**
   * The journal of an overwrite that did not finish (killed, or failed midway), with its
   * marker; undefined when the last overwrite finished. A marker whose `at` is not the
   * journal's (a journal written by an older agentsync meanwhile) is stale and ignored.
   */
  async pendingUndo(): Promise<{ journal: UndoJournal; marker: UndoPending } | undefined> {
    const marker = await this.undoPendingMark();
    if (!marker) return undefined;
    const journal = await this.undo();
    return journal && journal.at === marker.at ? { journal, marker } : undefined;
  }

  /** The `undo-pending` mark as stored (whether or not it matches the journal). */
  async undoPendingMark(): Promise<UndoPending | undefined> {
    return parseJson<UndoPending>(await this.db.get('undo-pending'), 'undo journal mark');
  }

  undoPendingOp(m: UndoPending | null): BatchOp {
    return m ? { type: 'put', key: 'undo-pending', value: jsonValue(m) } : { type: 'del', key: 'undo-pending' };
  }

  /**
   * The full cache (`stat`) as last read or written here: a save that changes few rows
   * writes only their difference from it (`stat+`), not the whole cache again.
   */
  private fullStat: StatCache | undefined;

  async statCache(): Promise<StatCache> {
    const [v, d] = await this.db.getMany(['stat', 'stat+']);
    const { cache, full } = decodeStat(v, d);
    this.fullStat = full;
    return cache;
  }

  async saveStatCache(c: StatCache): Promise<void> {
    const s = statSave(c, this.fullStat);
    if ('delta' in s) {
      await this.db.put('stat+', jsonValue(s.delta));
      return;
    }
    await this.db.batch([{ type: 'put', key: 'stat', value: s.full }, { type: 'del', key: 'stat+' }] as never);
    this.fullStat = c;
  }
}
