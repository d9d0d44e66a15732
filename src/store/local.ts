/**
 * The workspace's local store, `.agentsync/` (LevelDB). Keys:
 * `o!<hex>` objects (blobs and manifest chunks) · `m!<snapshot hex>` the root chunk of a stored
 * manifest · `format` the store format (2: chunked manifests) · `base!<remote>` snapshot hash of the per-artifact
 * base (last synced) · `track!<remote>` JSON of the last fetch, `trackv!<remote>!<10-digit id>`
 * JSON of each version it listed · `stat` the stat cache ·
 * `undo` the journal of the last overwrite, `undo-pending` present while that overwrite has not
 * finished. `stat+` holds recent changes to the stat cache. `statbase!<remote>` says how the
 * stat cache's rows differ from that remote's base (a status from it reads no manifest).
 * @module
 */
import { applyChanges, decodeManifest, encodeManifest, EMPTY_SNAPSHOT, type Change, type Manifest, type SnapshotHash } from '../model/manifest.js';
import type { ObjectId } from '../model/hash.js';
import type { Head, Version } from '../model/version.js';
import { STORE_FORMAT, compactAll, dec, enc, jsonValue, openDb, pad, parseJson, type Db } from './db.js';
import { ObjectStore, commit, type BatchOp } from './objects.js';
import { HOT_FILE, ManifestStore, convertLegacy } from './manifests.js';
import { join } from 'node:path';
import { fail } from '../model/errors.js';
import { decodeStat, statSave, type StatCache } from './stat-cache.js';

/**
 * What the last fetch saw of one remote (`track!<remote>`). The versions it listed are kept one
 * per key (`trackv!<remote>!<10-digit id>`), so that a fetch or push writes what changed, not
 * the whole history; {@link LocalStore.trackedVersions} reads them.
 */
export interface Tracking {
  url: string;
  fetchedAt: string;
  head: Head;
  /** Snapshot of the latest published version (its manifest and blobs are stored locally). */
  latestSnapshot: SnapshotHash | null;
  /** The oldest recorded version that is a draft (null: none): the next fetch reads from there. */
  firstDraft: number | null;
}

/** A fetch record as an earlier build wrote it: the whole version list inside. */
type StoredTracking = Omit<Tracking, 'firstDraft'> & { firstDraft?: number | null; versions?: Version[] };

const trackvKey = (remote: string, id: number) => `trackv!${remote}!${pad(id)}`;
/** The range of `remote`'s recorded versions with ids above `after`. */
const trackvRange = (remote: string, after = 0) => ({ gt: trackvKey(remote, after), lt: `trackv!${remote}!~` });

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

/** How the stat cache's rows differ from a base ({@link LocalStore.statBase}). */
export interface StatBase {
  cache: string;
  base: string;
  diff: [path: string, baseId: ObjectId | null][];
}

/** Most paths a kept {@link StatBase} lists (more drift: the next status reads the base). */
export const STATBASE_MAX = 512;

export class LocalStore {
  readonly objects: ObjectStore;
  /** Manifests as chunk trees (SPEC §3.1). */
  readonly manifests: ManifestStore;
  private constructor(readonly db: Db, dir: string) {
    this.objects = new ObjectStore(db);
    this.manifests = new ManifestStore(db, '', { hot: join(dir, HOT_FILE) });
  }

  static async open(dir: string, waitMs?: number): Promise<LocalStore> {
    const s = new LocalStore(await openDb(dir, { what: 'the workspace store', ...(waitMs !== undefined ? { waitMs } : {}) }), dir);
    try {
      await s.upgrade();
    } catch (e) {
      await s.close().catch(() => {});
      throw e;
    }
    return s;
  }

  /**
   * Format 1 → 2, once (SPEC §3.1 "Upgrade"): the manifests named by bases and fetch records
   * become chunk trees (synced first; the old whole objects stay until the last batch, so a
   * crash leaves a store either release reads), then one batch drops the old objects nothing
   * else reaches and writes `format`.
   */
  private async upgrade(): Promise<void> {
    const f = await this.db.get('format');
    if (f !== undefined) {
      if (dec.decode(f) === STORE_FORMAT) return;
      fail('STORE_CORRUPT', `the workspace store was written by a newer agentsync (format ${JSON.stringify(dec.decode(f))}, this one knows ${STORE_FORMAT}); upgrade agentsync`, { format: dec.decode(f) });
    }
    const legacy = await convertLegacy(this.db, '', await this.refSnapshots());
    const reach = legacy.length ? await this.reachable() : new Set<ObjectId>();
    await commit(this.db, [
      ...legacy.filter((id) => !reach.has(id)).map((id) => ({ type: 'del' as const, key: 'o!' + id })),
      { type: 'put', key: 'format', value: enc.encode(STORE_FORMAT) },
    ]);
  }

  /** The snapshots that bases and fetch records name. */
  async refSnapshots(): Promise<SnapshotHash[]> {
    const out: SnapshotHash[] = [];
    for (const r of await this.refs()) {
      if (r.key.startsWith('base!')) out.push(r.value);
      else {
        const t = parseJson<Tracking>(enc.encode(r.value), r.key);
        if (t?.latestSnapshot) out.push(t.latestSnapshot);
      }
    }
    return out;
  }

  /**
   * Every object something of this store reaches: the manifests of bases and fetch records
   * (chunks and blobs), the undo journal and an interrupted undo's journal, merge records.
   */
  async reachable(): Promise<Set<ObjectId>> {
    const into = new Set<ObjectId>();
    for (const s of await this.refSnapshots()) await this.manifests.reach(s, into);
    const journals = [await this.undo(), (await this.undoPendingMark())?.undoing];
    for (const j of journals) for (const e of j?.entries ?? []) for (const id of [e.id, e.base, e.after]) if (id) into.add(id);
    for await (const v of this.db.values({ gt: 'merge!', lt: 'merge"' })) {
      const r = parseJson<{ base?: string | null; local?: string | null; remoteId?: string | null }>(v, 'merge record');
      for (const id of [r?.base, r?.local, r?.remoteId]) if (id) into.add(id);
    }
    return into;
  }

  /**
   * Drop what nothing reaches (SPEC §3.1 "gc"): objects, and `m!` keys of manifests no ref
   * names. With `dryRun`, only count. Then compact the database, so the space is given back.
   */
  async gc(dryRun = false): Promise<{ objects: number; bytes: number; manifests: number }> {
    const reach = await this.reachable();
    const named = new Set(await this.refSnapshots());
    const ops: BatchOp[] = [];
    let objects = 0, bytes = 0, manifests = 0;
    for await (const { snapshot } of this.manifests.snapshots()) {
      if (!named.has(snapshot)) { ops.push(this.manifests.forgetOp(snapshot)); manifests++; }
    }
    for await (const [k, v] of this.db.iterator({ gte: 'o!', lt: 'o"' })) {
      if (reach.has(k.slice(2))) continue;
      ops.push({ type: 'del', key: k });
      objects++;
      bytes += v.length;
    }
    if (!dryRun) {
      for (let i = 0; i < ops.length; i += 10000) await commit(this.db, ops.slice(i, i + 10000));
      await compactAll(this.db);
    }
    return { objects, bytes, manifests };
  }

  async close(): Promise<void> {
    await this.manifests.persist();
    return this.db.close();
  }

  /** Ops that store a manifest (the chunks this store lacks); returns its snapshot hash. */
  manifestOps(m: Manifest): Promise<{ ops: BatchOp[]; snapshot: SnapshotHash }> {
    return this.encodedManifestOps(encodeManifest(m));
  }

  /** Ops that store encoded manifest bytes whose snapshot hash may be known (no second hash). */
  encodedManifestOps(bytes: Uint8Array, known?: SnapshotHash): Promise<{ ops: BatchOp[]; snapshot: SnapshotHash }> {
    return this.manifests.putOps(bytes, known);
  }

  /** The manifest bytes of `snapshot`. @throws OBJECT_MISSING */
  manifestBytes(snapshot: SnapshotHash): Promise<Uint8Array> {
    return this.manifests.bytes(snapshot);
  }

  async manifest(snapshot: SnapshotHash | null): Promise<Manifest> {
    if (snapshot === null || snapshot === EMPTY_SNAPSHOT) return new Map();
    return decodeManifest(await this.manifests.bytes(snapshot), { trusted: true });
  }

  async baseSnapshot(remote: string): Promise<SnapshotHash> {
    const v = await this.db.get('base!' + remote);
    return v ? dec.decode(v) : EMPTY_SNAPSHOT;
  }

  /** Ops that store `m` and point the base of `remote` at it. Commit objects first. */
  async baseOps(remote: string, m: Manifest): Promise<{ ops: BatchOp[]; snapshot: SnapshotHash }> {
    const { ops, snapshot } = await this.manifestOps(m);
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
    return (await this.baseOps(remote, applyChanges(current, changes))).ops;
  }

  private async storedTracking(remote: string): Promise<StoredTracking | undefined> {
    return parseJson<StoredTracking>(await this.db.get('track!' + remote), `fetch record of ${remote}`);
  }

  async tracking(remote: string): Promise<Tracking | undefined> {
    const t = await this.storedTracking(remote);
    if (!t) return undefined;
    const { versions, ...rest } = t;
    return { ...rest, firstDraft: versions ? versions.find((v) => v.state === 'draft')?.id ?? null : t.firstDraft ?? null };
  }

  /** The versions the last fetch (or push) recorded for `remote` with ids above `after`, oldest first. */
  async trackedVersions(remote: string, after = 0): Promise<Version[]> {
    const legacy = (await this.storedTracking(remote))?.versions;
    if (legacy) return legacy.filter((v) => v.id > after);
    const out: Version[] = [];
    for await (const [k, v] of this.db.iterator(trackvRange(remote, after))) {
      out.push(parseJson<Version>(v, k)!);
    }
    return out;
  }

  /** One recorded version of `remote`, or undefined. */
  async trackedVersion(remote: string, id: number): Promise<Version | undefined> {
    const legacy = (await this.storedTracking(remote))?.versions;
    if (legacy) return legacy.find((v) => v.id === id);
    return parseJson<Version>(await this.db.get(trackvKey(remote, id)), `version ${id} of ${remote}`);
  }

  /**
   * Ops that record a fetch of `remote`: the summary `t`, and every recorded version above `from`
   * replaced by those of `versions` above it (the ones at or below `from` stay as recorded; a
   * full re-read passes 0). A record an earlier build wrote (the list inside) is rewritten in
   * this layout on the way.
   */
  async trackingOps(remote: string, t: Omit<Tracking, 'firstDraft'>, versions: readonly Version[], from: number): Promise<{ ops: BatchOp[]; tracking: Tracking }> {
    const ops: BatchOp[] = [];
    const stored = await this.storedTracking(remote);
    let kept: number | null;
    if (stored?.versions) {
      const keep = stored.versions.filter((v) => v.id <= from);
      for (const v of keep) ops.push({ type: 'put', key: trackvKey(remote, v.id), value: jsonValue(v) });
      kept = keep.find((v) => v.state === 'draft')?.id ?? null;
    } else {
      for await (const k of this.db.keys(trackvRange(remote, from))) ops.push({ type: 'del', key: k });
      const prevDraft = stored ? (stored.firstDraft ?? null) : null;
      kept = prevDraft !== null && prevDraft <= from ? prevDraft : null;
    }
    for (const v of versions) {
      if (v.id <= from) continue;
      ops.push({ type: 'put', key: trackvKey(remote, v.id), value: jsonValue(v) });
    }
    const firstDraft = kept ?? versions.find((v) => v.id > from && v.state === 'draft')?.id ?? null;
    const summary: Tracking = { url: t.url, fetchedAt: t.fetchedAt, head: t.head, latestSnapshot: t.latestSnapshot, firstDraft };
    ops.push({ type: 'put', key: 'track!' + remote, value: jsonValue(summary) });
    return { ops, tracking: summary };
  }

  /** The op that only restamps the summary of a fetch that found nothing new (its versions stay). */
  async touchTrackingOps(remote: string, fetchedAt: string): Promise<BatchOp[]> {
    const stored = await this.storedTracking(remote);
    if (!stored) return [];
    if (stored.versions) return (await this.trackingOps(remote, { ...stored, fetchedAt }, stored.versions, 0)).ops;
    return [{ type: 'put', key: 'track!' + remote, value: jsonValue({ ...stored, fetchedAt }) }];
  }

  /**
   * How the stat cache's rows (snapshot `cache`) differ from the base (snapshot `base`): the
   * paths where they do, with the base's id (null: not in the base). A pure function of the two
   * snapshots, so it holds whenever both match; undefined when none is kept or it is damaged.
   */
  async statBase(remote: string): Promise<StatBase | undefined> {
    const b = await this.db.get('statbase!' + remote);
    let v: StatBase | undefined;
    try { v = b === undefined ? undefined : JSON.parse(dec.decode(b)) as StatBase; } catch { return undefined; } // derived: damaged reads as none
    if (!v || typeof v.cache !== 'string' || typeof v.base !== 'string' || !Array.isArray(v.diff)) return undefined;
    return v.diff.every((d) => Array.isArray(d) && typeof d[0] === 'string' && (d[1] === null || typeof d[1] === 'string')) ? v : undefined;
  }

  /** Keep `sb` (unsynced: it is derived, and checked against both snapshots when read). */
  async saveStatBase(remote: string, sb: StatBase): Promise<void> {
    await this.db.put('statbase!' + remote, jsonValue(sb));
  }

  async forgetRemote(remote: string): Promise<void> {
    const ops: BatchOp[] = [{ type: 'del', key: 'base!' + remote }, { type: 'del', key: 'track!' + remote }, { type: 'del', key: 'statbase!' + remote }];
    for await (const k of this.db.keys(trackvRange(remote))) ops.push({ type: 'del', key: k });
    await commit(this.db, ops);
  }

  /** Every base and tracking ref, for fsck. */
  async refs(): Promise<{ key: string; value: string }[]> {
    const out: { key: string; value: string }[] = [];
    for (const prefix of ['base!', 'track!']) {
      for await (const [k, v] of this.db.iterator({ gte: prefix, lt: prefix + '~' })) out.push({ key: k, value: dec.decode(v) });
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
