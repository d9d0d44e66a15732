/**
 * push: upload the selected artifacts' local changes as one new version, compare-and-swap on
 * the latest published version. Local changes go on top of the remote head: remote-only changes
 * (`pull` state) are kept there and reported as not pulled; only `conflict` refuses. A create
 * that finds another version in first reads the remote's changes since the version it was
 * built on and goes on top of them (jittered exponential backoff, bounded) when they touch no
 * pushed artifact; otherwise it is refused, so no update is ever lost.
 * @module
 */
import { fail, isAgentsyncError } from '../model/errors.js';
import { blobId, type ObjectId } from '../model/hash.js';
import { applyChanges, encodeManifest, patchManifest, snapshotHashOf, EMPTY_SNAPSHOT, type Change, type Manifest, type SnapshotHash } from '../model/manifest.js';
import type { Version } from '../model/version.js';
import type { StoredObject } from '../remote/types.js';
import { commit, type BatchOp } from '../store/objects.js';
import { readArtifact } from '../workspace/scan.js';
import { remoteName, type Context } from './context.js';
import { fetchObjects, fetchRemote } from './fetch.js';
import { computeStatus, scanLocal, type Entry } from './status.js';
import type { ScanResult } from '../workspace/scan.js';
import { checkPushable } from './checks.js';
import { conflictHint, shellWord } from './merge-records.js';

export interface PushOptions {
  selectors: readonly string[];
  dryRun?: boolean;
  force?: boolean;
  draft?: boolean;
  message?: string;
  author: string;
}

export interface PushResult {
  remote: string;
  dryRun: boolean;
  /** Entries whose local change is (or would be) pushed. */
  pushed: Entry[];
  /** Entries that only needed their base recorded (both sides made the same change). */
  converged: Entry[];
  /**
   * Selected artifacts with remote changes this push leaves on the remote, to be pulled (state
   * `pull`, or `converged` changed again remotely), as of the remote head the version went on.
   */
  notPulled: Entry[];
  version: Version | null;
  objectsSent: number;
  retries: number;
}

/** Compare-and-swap attempts in all (the first included), and the time they may take. */
export const CAS_MAX_TRIES = 50;
export const CAS_MAX_MS = 30_000;
/** Backoff before the n-th refetch: uniform in [0, min(CAP, BASE · 2^(n-1))) ("full jitter"). */
const BACKOFF_BASE_MS = 20;
const BACKOFF_CAP_MS = 500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Transfers at least this large report progress (on terminals). */
const PROGRESS_MIN = 500;
/** Blobs negotiated and uploaded per round trip. */
const UPLOAD_CHUNK = 1000;
/**
 * A push whose objects to upload are at most this many, and this many bytes in all, sends them
 * with the create (one request instead of two; SPEC §6 `POST versions`). In base64 they cost a
 * third more bytes: at most 4 KB more here, against a round trip saved.
 */
const INLINE_COUNT = 100;
const INLINE_BYTES = 12 * 1024;

/** Bytes of pushed files kept between the checks and the upload (beyond, files are read again). */
const KEEP_BYTES = 64 * 1024 * 1024;

/**
 * The pushed files, each read once for the checks (conflict markers, validation) and the upload:
 * checked against the id the scan saw (PUSH_REFUSED if the file changed or went away since, so
 * what was checked is what is sent), kept up to {@link KEEP_BYTES} until the upload has it.
 */
function pushedFiles(ctx: Context): { bytes(path: string, id: ObjectId): Uint8Array; forget(path: string): void } {
  const kept = new Map<string, Uint8Array>();
  let size = 0;
  return {
    bytes(path, id) {
      const had = kept.get(path);
      if (had) return had;
      let bytes: Uint8Array | undefined;
      try {
        bytes = readArtifact(ctx.ws, path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      if (bytes === undefined || blobId(bytes) !== id) fail('PUSH_REFUSED', `services/${path} changed while pushing; nothing was published — check it with \`agentsync diff ${shellWord(path)}\`, then push again`, { path, hint: `agentsync diff ${shellWord(path)}` });
      if (size + bytes.length <= KEEP_BYTES) { kept.set(path, bytes); size += bytes.length; }
      return bytes;
    },
    forget(path) {
      const b = kept.get(path);
      if (b) { kept.delete(path); size -= b.length; }
    },
  };
}

/**
 * Which entries a push sends. `conflict` entries throw PUSH_REFUSED without force; `pull`
 * entries (remote-only changes, even when named by a selector) are left on the remote to be
 * pulled, unless forced (local wins: the remote change is reverted).
 */
function plan(entries: Entry[], force: boolean): { send: Entry[]; converged: Entry[] } {
  const blocked = entries.filter((e) => e.state === 'conflict');
  if (blocked.length && !force) {
    fail('PUSH_REFUSED', `refusing to push: ${blocked.length} selected artifact(s) changed both locally and on the remote (${blocked.slice(0, 3).map((e) => `${e.path}: ${e.state}`).join(', ')}${blocked.length > 3 ? ', …' : ''}); see \`agentsync diff ${shellWord(blocked[0]!.path)}\`, then \`agentsync merge <path>\` to merge by hand, or push --force to overwrite the remote`, { paths: blocked.map((e) => ({ path: e.path, state: e.state })), hint: conflictHint(blocked[0]!) });
  }
  return {
    send: entries.filter((e) => e.state === 'push' || (force && (e.state === 'pull' || e.state === 'conflict'))),
    converged: entries.filter((e) => e.state === 'converged'),
  };
}

/**
 * The selected remote changes still to pull once the push has landed: paths not sent whose
 * remote side differs from what their base will be (a converged path's base becomes its local id).
 */
function notPulledOf(entries: Entry[], send: Entry[], converged: Entry[]): Entry[] {
  const sent = new Set(send.map((e) => e.path));
  const conv = new Set(converged.map((e) => e.path));
  return entries.filter((e) => !sent.has(e.path) && (conv.has(e.path) ? e.ids.remote !== e.ids.local : e.state === 'pull'));
}

function changesOf(send: Entry[]): Change[] {
  return send.map((e) => ({ path: e.path, id: e.ids.local }));
}

export async function push(ctx: Context, o: PushOptions): Promise<PushResult> {
  const name = remoteName(ctx);
  const remote = ctx.remote();
  // The fetch waits mostly on the remote (a store opening, a request): scan meanwhile, and load
  // the validator, which a push of anything new needs.
  const fetching = fetchRemote(ctx, { dryRun: !!o.dryRun });
  fetching.catch(() => {}); // awaited below; a scan error must not leave it unhandled
  import('./validate.js').catch(() => {}); // (a failure shows where it is used)
  let scanned: ScanResult;
  try {
    scanned = await scanLocal(ctx);
  } catch (e) {
    await fetching.catch(() => {});
    throw e;
  }
  const fetched = await fetching;
  let st = await computeStatus(ctx, o.selectors, { tracking: fetched.tracking, scanned });
  let { send, converged } = plan(st.entries, !!o.force);
  const result: PushResult = { remote: name, dryRun: !!o.dryRun, pushed: send, converged, notPulled: notPulledOf(st.entries, send, converged), version: null, objectsSent: 0, retries: 0 };
  const read = pushedFiles(ctx);
  if (send.length) await checkPushable(ctx, send, read.bytes);
  if (o.dryRun) return result;

  // Upload what the remote lacks (object negotiation), in bounded chunks so that memory stays
  // flat on a large first push; the bytes are those the checks read (or, past KEEP_BYTES, read
  // again, checked against the scan the same way). One chunk's upload is in flight while the
  // next is negotiated and read (two chunks in memory).
  const ids = [...new Set(send.map((e) => e.ids.local).filter((x): x is ObjectId => x !== null))];
  const pathOf = new Map(send.filter((e) => e.ids.local !== null).map((e) => [e.ids.local!, e.path]));
  /** Objects sent with the create (a small push), again with each attempt. */
  let inline: StoredObject[] = [];
  let uploading: Promise<void> | undefined;
  const uploaded = async () => {
    const u = uploading;
    uploading = undefined;
    await u;
  };
  try {
    for (let i = 0; i < ids.length; i += UPLOAD_CHUNK) {
      const chunk = ids.slice(i, i + UPLOAD_CHUNK);
      const [remoteLacks, localLacks] = await Promise.all([remote.missing(chunk), ctx.store.objects.missing(chunk)]);
      const lacking = new Set(remoteLacks);
      const notLocal = new Set(localLacks);
      const needRead = new Set([...lacking, ...notLocal]);
      const objs: { id: ObjectId; bytes: Uint8Array }[] = [];
      for (const id of needRead) {
        const path = pathOf.get(id)!;
        objs.push({ id, bytes: read.bytes(path, id) });
        read.forget(path);
      }
      const local = objs.filter((x) => notLocal.has(x.id));
      if (local.length) await ctx.store.objects.put(local.map((x) => x.bytes));
      const up = objs.filter((x) => lacking.has(x.id));
      if (ids.length <= UPLOAD_CHUNK && up.length <= INLINE_COUNT && up.reduce((n, x) => n + x.bytes.length, 0) <= INLINE_BYTES) inline = up;
      else if (up.length) {
        await uploaded();
        uploading = remote.putObjects(up);
        uploading.catch(() => {}); // awaited before the next upload or after the loop
      }
      result.objectsSent += up.length;
      if (ids.length >= PROGRESS_MIN) ctx.progress?.(Math.min(i + UPLOAD_CHUNK, ids.length), ids.length, 'uploading objects');
    }
    await uploaded();
  } finally {
    await uploading?.catch(() => {}); // a failure meanwhile (a file changed) leaves no request running
  }

  let version: Version | null = null;
  let nextBytes: Uint8Array = new Uint8Array(0);
  let parentSnap: SnapshotHash | undefined;
  if (send.length) {
    // The CAS names `expected`; its manifest is what the changes apply to (empty when none is
    // published). (Read only when needed: a status from the stat cache decodes no manifest.)
    let expected = st.latestPublished;
    parentSnap = expected === null ? EMPTY_SNAPSHOT : st.remoteSnapshot!;
    let parent: Manifest | undefined;
    const parentManifest = (): Manifest => (parent ??= expected === null ? new Map() : st.manifests.remote);
    /** Other writers' changes the version went on top of (their blobs are fetched afterwards). */
    const others = new Map<string, ObjectId | null>();
    const started = Date.now();
    for (;;) {
      const changes = changesOf(send);
      nextBytes = await nextManifestBytes(ctx, parentSnap, parentManifest, changes);
      const snapshot = snapshotHashOf(nextBytes);
      // A published version's manifest is stored locally too (the new fetch record and base name
      // it): write it durably while the remote creates the version. An object no ref names yet
      // is harmless if the creation fails.
      const storing = o.draft ? undefined : ctx.store.encodedManifestOps(nextBytes, snapshot).then((x) => commit(ctx.store.db, x.ops));
      storing?.catch(() => {}); // awaited below; failing while the create is in flight must not be an unhandled rejection
      try {
        version = await remote.createVersion({
          expected, changes, snapshot,
          author: o.author, message: o.message ?? defaultMessage(send), draft: !!o.draft,
        }, inline.length ? inline : undefined);
        await storing;
        break;
      } catch (e) {
        // A failed local write (a full disk) ends the push: the store is not written again through that handle.
        const storeFailed = await storing?.then(() => undefined, (x: unknown) => x ?? new Error('store write failed'));
        if (storeFailed !== undefined) throw storeFailed;
        if (!isAgentsyncError(e) || e.code !== 'STALE_REMOTE') throw e;
        const latest = e.data.latestPublished;
        if (typeof latest !== 'number' || (expected !== null && latest <= expected)) throw e; // not a newer head: nothing to go on top of
        // Someone else's version went in first. Wait a random, growing while (so that many
        // pushers spread out instead of colliding again), then go on top of the new head unless
        // it changed a pushed path. Bounded in tries and in time.
        const delay = Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** result.retries);
        if (result.retries + 1 >= CAS_MAX_TRIES || Date.now() + delay - started >= CAS_MAX_MS) throw e;
        result.retries++;
        await sleep(delay);
        // The remote's changes since `expected`, the version this attempt was built on (not since
        // some later refetch): every change another writer made meanwhile is in this list.
        const since = await remote.changesBetween(expected, latest);
        const touched = new Set(since.map((c) => c.path));
        const overlap = send.filter((x) => touched.has(x.path));
        if (overlap.length && !o.force) {
          fail('PUSH_REFUSED', `refusing to push: the remote changed ${overlap.map((x) => x.path).slice(0, 3).join(', ')} while you pushed, so they are now changed on both sides; \`agentsync merge ${shellWord(overlap[0]!.path)}\` merges one by hand, or push --force overwrites the remote`, { paths: overlap.map((x) => ({ path: x.path, state: 'conflict' })), hint: `agentsync merge ${shellWord(overlap[0]!.path)}` });
        }
        // The new parent: the old one plus those changes. (The remote checks the snapshot the
        // next attempt names, so a wrong change list cannot slip through.)
        for (const c of since) others.set(c.path, c.id);
        parent = applyChanges(parentManifest(), since);
        parentSnap = snapshotHashOf(encodeManifest(parent));
        expected = latest;
      }
    }
    // The fetch record will name the new version's manifest: every blob it lists must be stored,
    // the other writers' ones included (verified against their ids).
    const sent = new Set(send.map((x) => x.path));
    const theirs = [...others].filter(([p, id]) => id !== null && !sent.has(p)).map(([, id]) => id!);
    if (theirs.length && version?.state === 'published') await fetchObjects(ctx, remote, theirs);
  }
  result.version = version;

  // Record what we now know of the remote (the new version; its blobs are all local) and the
  // new base: pushed paths now equal local (unless a draft), converged paths too. One batch.
  const ops: BatchOp[] = [];
  if (version && st.tracking) {
    const t = st.tracking;
    const published = version.state === 'published';
    // With no gap in ids our version list is complete; otherwise (someone else made a version we
    // have not seen) keep the old lastId so that the next fetch sees a different head and re-reads.
    const lastId = version.id === t.head.lastId + 1 ? version.id : t.head.lastId;
    const head = published ? { latestPublished: version.id, current: version.id, lastId } : { ...t.head, lastId };
    // (The version's manifest was stored while the remote created it.)
    ops.push(...(await ctx.store.trackingOps(name, { ...t, fetchedAt: new Date().toISOString(), head, latestSnapshot: published ? version.snapshot : t.latestSnapshot }, [version], version.id - 1)).ops);
  }
  const moved = [...(version && version.state === 'published' ? send : []), ...converged];
  if (version && version.state === 'published' && st.tracking && converged.length === 0 && st.base === parentSnap) {
    // The base was the version's parent and moves by exactly the pushed changes: the new base
    // is the new version's manifest, stored just above.
    ops.push(ctx.store.baseRefOp(name, version.snapshot));
  } else if (moved.length) {
    ops.push(...(await ctx.store.moveBaseOps(name, moved.map((e) => ({ path: e.path, id: e.ids.local })), st.manifests.base)));
  }
  await commit(ctx.store.db, ops);
  if (result.retries && version?.state === 'published') {
    // The version went on top of changes this push's status had not seen: what is left to pull
    // is what a status now shows.
    result.notPulled = (await computeStatus(ctx, o.selectors, { scanned })).entries.filter((e) => e.state === 'pull');
  }
  return result;
}

/** The manifest bytes of `parent` + `changes`: the stored parent patched in place when possible. */
async function nextManifestBytes(ctx: Context, parent: SnapshotHash, parentManifest: () => Manifest, changes: Change[]): Promise<Uint8Array> {
  const stored = parent === EMPTY_SNAPSHOT ? new Uint8Array(0) : await ctx.store.manifests.get(parent);
  return (stored && patchManifest(stored, changes)) ?? encodeManifest(applyChanges(parentManifest(), changes));
}

function defaultMessage(send: Entry[]): string {
  if (send.length === 1) return `update ${send[0]!.path}`;
  return `update ${send.length} artifacts`;
}
