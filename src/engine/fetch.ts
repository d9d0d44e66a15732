/**
 * fetch: download the remote's versions and pointers, then the latest published snapshot —
 * incrementally, as the changes since the last fetched one — and the objects it lacks.
 * Objects are stored (durably) before the fetch record that points at them.
 * @module
 */
import { fail, isAgentsyncError } from '../model/errors.js';
import { blobId, type ObjectId } from '../model/hash.js';
import { applyChanges, encodeManifest, findClash, findClashAt, patchManifest, snapshotHashOf, EMPTY_SNAPSHOT, type Manifest, type SnapshotHash } from '../model/manifest.js';
import { EMPTY_HEAD, type Head, type Version } from '../model/version.js';
import { commit } from '../store/objects.js';
import type { Tracking } from '../store/local.js';
import type { Remote } from '../remote/types.js';
import { remoteName, type Context } from './context.js';

export interface FetchResult {
  remote: string;
  url: string;
  latestPublished: number | null;
  current: number | null;
  snapshot: SnapshotHash | null;
  newVersions: number;
  objectsFetched: number;
  tracking: Tracking;
}

const BATCH = 2000;

/** Download objects the local store lacks, verifying each against its id. */
export async function fetchObjects(ctx: Context, remote: Remote, ids: Iterable<ObjectId>): Promise<number> {
  const missing = await ctx.store.objects.missing([...new Set(ids)]);
  for (let i = 0; i < missing.length; i += BATCH) {
    const got = await remote.getObjects(missing.slice(i, i + BATCH));
    for (const o of got) {
      if (blobId(o.bytes) !== o.id) fail('REMOTE_PROTOCOL', `the remote sent object ${o.id.slice(0, 12)} with the wrong content; nothing was stored — run \`agentsync fsck\` on the remote`, { id: o.id });
    }
    await ctx.store.objects.put(got.map((o) => o.bytes));
    if (missing.length >= 500) ctx.progress?.(Math.min(i + BATCH, missing.length), missing.length, 'downloading objects');
  }
  return missing.length;
}

export interface FetchOptions {
  /** Compute the fetch record but do not store it (dry runs move no ref). */
  dryRun?: boolean;
  /**
   * A directory remote that does not exist yet counts as empty when no version was ever fetched
   * from it (nobody pushed yet); one that vanished after versions were seen is unreachable.
   * Default true.
   */
  allowNew?: boolean;
}

/** The remote's head; a not-yet-created remote is empty when nothing was fetched from it before. */
export async function remoteHead(ctx: Context, prev: Tracking | undefined, allowNew = true): Promise<Head> {
  try {
    return await ctx.remote().head();
  } catch (e) {
    const fresh = !prev || prev.head.lastId === 0;
    if (!(allowNew && fresh && isAgentsyncError(e) && e.code === 'REMOTE_UNREACHABLE' && e.data.missing)) throw e;
    return { ...EMPTY_HEAD };
  }
}

export async function fetchRemote(ctx: Context, o: FetchOptions = {}): Promise<FetchResult> {
  const name = remoteName(ctx);
  const remote = ctx.remote();
  const stored = await ctx.store.tracking(name);
  // A fetch record from another URL says nothing about this remote (it may be a moved server, or a new one).
  const prev = stored && stored.url === ctx.remoteConfig!.url ? stored : undefined;
  const head = await remoteHead(ctx, prev, o.allowNew ?? true);
  // Every change to a version (create, deploy, rollback) moves the head, so an unchanged head
  // means the last fetch is still exact: one request, nothing else to read.
  if (prev && head.lastId > 0 && sameHead(prev.head, head)) {
    const tracking: Tracking = { ...prev, fetchedAt: new Date().toISOString() };
    if (!o.dryRun) await commit(ctx.store.db, await ctx.store.touchTrackingOps(name, tracking.fetchedAt));
    return { remote: name, url: tracking.url, latestPublished: head.latestPublished, current: head.current, snapshot: prev.latestSnapshot, newVersions: 0, objectsFetched: 0, tracking };
  }
  // `versions`: every version above `from`; those at or below it are recorded already.
  const { from, versions } = head.lastId === 0 ? { from: 0, versions: [] } : await versionsSince(ctx, name, remote, prev, head);
  const newVersions = versions.filter((v) => v.id > (prev?.head.lastId ?? 0)).length;
  let latestSnapshot: SnapshotHash | null = null;
  let objectsFetched = 0;
  if (head.latestPublished !== null) {
    const latest = head.latestPublished > from ? versions.find((v) => v.id === head.latestPublished) : await ctx.store.trackedVersion(name, head.latestPublished);
    if (!latest) fail('REMOTE_PROTOCOL', `the remote names latest published version ${head.latestPublished} but does not list it`);
    latestSnapshot = latest.snapshot;
    if (latestSnapshot !== prev?.latestSnapshot) {
      // Patch from the previously fetched snapshot when that version is still the one we knew
      // (kept below `from`, or read again unchanged).
      const knownPrev = prev?.latestSnapshot && prev.head.latestPublished !== null
        && (prev.head.latestPublished <= from || versions.some((v) => v.id === prev.head.latestPublished && v.snapshot === prev.latestSnapshot));
      const base = knownPrev ? prev!.head.latestPublished : null;
      const changes = await remote.changesBetween(base, latest.id);
      // Patch the stored bytes of the previous snapshot (no decode, apply, re-encode) when the
      // changes come sorted, as remotes send them; otherwise take the Map route.
      const prevBytes = base === null ? new Uint8Array(0) : prev!.latestSnapshot === EMPTY_SNAPSHOT ? new Uint8Array(0) : await ctx.store.manifestBytes(prev!.latestSnapshot!);
      let m: Manifest | undefined;
      let bytes = patchManifest(prevBytes, changes);
      if (!bytes) {
        m = applyChanges(base === null ? new Map() : await ctx.store.manifest(prev!.latestSnapshot), changes);
        bytes = encodeManifest(m);
      }
      if (snapshotHashOf(bytes) !== latest.snapshot) {
        fail('REMOTE_PROTOCOL', `the changes the remote sent for version ${latest.id} do not give its snapshot ${latest.snapshot}; try again, then \`agentsync fsck\``);
      }
      // Every path was checked on arrival (CheckedRemote); a snapshot no clone could check out
      // (a file that is also another path's folder) is refused before anything is stored.
      if (base === null) m ??= applyChanges(new Map(), changes); // the whole snapshot: built once
      const clash = m ? findClash(m) : findClashAt(bytes, changes.flatMap((c) => (c.id === null ? [] : [c.path])));
      if (clash) {
        fail('PATH_UNSAFE', `version ${latest.id} on the remote holds both ${JSON.stringify(clash.file)} and ${JSON.stringify(clash.under)}, which no clone can check out; refusing it, nothing was written — fix it on the remote`, { path: clash.under, clash, reason: 'file-folder clash' });
      }
      // Blobs of unchanged paths are already stored (they came with the previous snapshot).
      const wanted = base === null ? m!.values() : changes.flatMap((c) => (c.id === null ? [] : [c.id]));
      objectsFetched = await fetchObjects(ctx, remote, wanted);
      await commit(ctx.store.db, (await ctx.store.encodedManifestOps(bytes, latest.snapshot)).ops);
    }
  }
  const { ops, tracking } = await ctx.store.trackingOps(name, { url: ctx.remoteConfig!.url, fetchedAt: new Date().toISOString(), head, latestSnapshot }, versions, from);
  // A remote with no versions shares no history with us (new, or pointed elsewhere): whatever
  // base we recorded does not describe it, so every local artifact is again an addition to push.
  if (head.lastId === 0 && (await ctx.store.baseSnapshot(name)) !== EMPTY_SNAPSHOT) ops.push(...(await ctx.store.baseOps(name, new Map())).ops);
  if (!o.dryRun) await commit(ctx.store.db, ops);
  return { remote: name, url: tracking.url, latestPublished: head.latestPublished, current: head.current, snapshot: latestSnapshot, newVersions, objectsFetched, tracking };
}

/**
 * The versions that may have changed since the last fetch: versions are immutable but for a
 * draft's publication, so the record is kept up to (not including) its oldest draft, and the rest
 * is read again — from the last known version on, which must come back unchanged (same snapshot
 * and creation time), or the remote is not the one we knew (recreated at the same URL) and
 * everything is read again (`from` 0). O(new versions), not O(history).
 * @returns `versions`, every version above `from`.
 */
async function versionsSince(ctx: Context, name: string, remote: Remote, prev: Tracking | undefined, head: Head): Promise<{ from: number; versions: Version[] }> {
  // The record is complete up to its head's lastId (a push that saw a gap in ids keeps the old one).
  const last = prev && prev.head.lastId > 0 ? await ctx.store.trackedVersion(name, prev.head.lastId) : undefined;
  if (!last || head.lastId < last.id) return { from: 0, versions: await remote.versions(0) };
  const from = Math.min(last.id, prev!.firstDraft ?? Infinity) - 1;
  const fresh = await remote.versions(from);
  const again = fresh.find((v) => v.id === last.id);
  if (!again || again.snapshot !== last.snapshot || again.createdAt !== last.createdAt) return { from: 0, versions: await remote.versions(0) };
  return { from, versions: fresh };
}

function sameHead(a: Head, b: Head): boolean {
  return a.lastId === b.lastId && a.latestPublished === b.latestPublished && a.current === b.current;
}
