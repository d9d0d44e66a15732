/**
 * The workspace's local store, `.agentsync/` (LevelDB). Keys:
 * `o!<hex>` objects (blobs and manifests) · `base!<remote>` snapshot hash of the per-artifact
 * base (last synced) · `track!<remote>` JSON of the last fetch · `stat` the stat cache ·
 * `undo` the journal of the last overwrite. `stat+` holds recent changes to the stat cache.
 * @module
 */
import { applyChanges, decodeManifest, encodeManifest, manifestObjectId, snapshotHashOf, EMPTY_SNAPSHOT, type Change, type Manifest, type SnapshotHash } from '../model/manifest.js';
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
   * The full cache (`stat`) as last read or written here: a save that changes few entries
   * writes only their difference from it (`stat+`), not the whole cache again.
   */
  private fullStat: { writtenAt: number; entries: Map<string, StatEntry> } | undefined;

  async statCache(): Promise<StatCache> {
    const [v, d] = await this.db.getMany(['stat', 'stat+']);
    this.fullStat = undefined;
    if (!v) return { writtenAt: 0, snapshot: '', entries: new Map() };
    if (v[0] !== 0x7b) return parseTextStatCache(dec.decode(v)); // '{' starts format 2; older stores wrote text
    try {
      const f = JSON.parse(dec.decode(v)) as StatFull;
      if (f.v !== 2) return { writtenAt: 0, snapshot: '', entries: new Map() };
      const entries = new Map<string, StatEntry>();
      const { paths, ids, size, mtime, ino } = f;
      for (let i = 0; i < paths.length; i++) entries.set(paths[i]!, { id: ids[i]!, size: size[i]!, mtimeMs: mtime[i]!, ino: ino[i]! });
      this.fullStat = { writtenAt: f.writtenAt, entries };
      const delta = d && d.length ? (JSON.parse(dec.decode(d)) as StatDelta) : undefined;
      if (!delta || delta.v !== 2 || delta.of !== f.writtenAt) return { writtenAt: f.writtenAt, snapshot: f.snapshot, entries };
      const merged = new Map(entries);
      for (const [p, id, sz, mt, n] of delta.set) merged.set(p, { id, size: sz, mtimeMs: mt, ino: n });
      for (const p of delta.del) merged.delete(p);
      return { writtenAt: delta.writtenAt, snapshot: delta.snapshot, entries: merged };
    } catch {
      this.fullStat = undefined;
      return { writtenAt: 0, snapshot: '', entries: new Map() }; // damaged cache: rebuild by re-reading
    }
  }

  async saveStatCache(c: StatCache): Promise<void> {
    const full = this.fullStat;
    if (full) {
      const set: StatDelta['set'] = [];
      for (const [p, e] of c.entries) {
        const f = full.entries.get(p);
        if (f === e || (f && f.id === e.id && f.size === e.size && f.mtimeMs === e.mtimeMs && f.ino === e.ino)) continue;
        set.push([p, e.id, e.size, e.mtimeMs, e.ino]);
        if (set.length > STAT_DELTA_MAX) break;
      }
      const del: string[] = [];
      if (set.length <= STAT_DELTA_MAX) {
        for (const p of full.entries.keys()) if (!c.entries.has(p)) del.push(p);
      }
      if (set.length + del.length <= STAT_DELTA_MAX) {
        const delta: StatDelta = { v: 2, of: full.writtenAt, writtenAt: c.writtenAt, snapshot: c.snapshot, set, del };
        await this.db.put('stat+', jsonValue(delta));
        return;
      }
    }
    const n = c.entries.size;
    const paths: string[] = new Array(n), ids: string[] = new Array(n), size: number[] = new Array(n), mtime: number[] = new Array(n), ino: number[] = new Array(n);
    let i = 0;
    for (const [p, e] of c.entries) {
      paths[i] = p; ids[i] = e.id; size[i] = e.size; mtime[i] = e.mtimeMs; ino[i] = e.ino;
      i++;
    }
    const f: StatFull = { v: 2, writtenAt: c.writtenAt, snapshot: c.snapshot, paths, ids, size, mtime, ino };
    await this.db.batch([{ type: 'put', key: 'stat', value: jsonValue(f) }, { type: 'del', key: 'stat+' }] as never);
    this.fullStat = { writtenAt: c.writtenAt, entries: c.entries };
  }
}

/** Most changed entries kept as a difference (`stat+`) before the whole cache is rewritten. */
const STAT_DELTA_MAX = 512;

/** `stat`, format 2: columns, one row per artifact. */
interface StatFull {
  v: 2;
  writtenAt: number;
  snapshot: string;
  paths: string[];
  ids: string[];
  size: number[];
  mtime: number[];
  ino: number[];
}

/** `stat+`: rows that differ from `stat` (written at `of`) and paths gone from it. */
interface StatDelta {
  v: 2;
  of: number;
  writtenAt: number;
  snapshot: string;
  set: [string, string, number, number, number][];
  del: string[];
}

/** The text stat cache of earlier versions (read, never written). */
function parseTextStatCache(text: string): StatCache {
  const entries = new Map<string, StatEntry>();
  const lines = text.split('\n');
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
