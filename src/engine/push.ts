/**
 * push: upload the selected artifacts' local changes as one new version, compare-and-swap on
 * the latest published version. A stale view is refetched and retried when the remote's new
 * changes do not touch the pushed artifacts; otherwise refused. Remote-only changes elsewhere
 * are kept.
 * @module
 */
import { fail, isAgentsyncError } from '../model/errors.js';
import { blobId, type ObjectId } from '../model/hash.js';
import { applyChanges, diffManifests, encodeManifest, snapshotHashOf, type Change, type Manifest } from '../model/manifest.js';
import type { Version } from '../model/version.js';
import { commit } from '../store/objects.js';
import { readArtifact } from '../workspace/scan.js';
import { remoteName, type Context } from './context.js';
import { fetchRemote } from './fetch.js';
import { computeStatus, type Entry } from './status.js';
import { checkPushable } from './checks.js';

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
  version: Version | null;
  objectsSent: number;
  retries: number;
}

const MAX_RETRIES = 5;

/** Which entries a push sends; throws PUSH_REFUSED for pull/conflict entries without force. */
function plan(entries: Entry[], force: boolean): { send: Entry[]; converged: Entry[] } {
  const blocked = entries.filter((e) => e.state === 'pull' || e.state === 'conflict');
  if (blocked.length && !force) {
    fail('PUSH_REFUSED', `refusing to push: ${blocked.length} selected artifact(s) changed on the remote (${blocked.slice(0, 3).map((e) => `${e.path}: ${e.state}`).join(', ')}${blocked.length > 3 ? ', …' : ''}); pull first, or push --force to overwrite the remote`, { paths: blocked.map((e) => ({ path: e.path, state: e.state })) });
  }
  return {
    send: entries.filter((e) => e.state === 'push' || (force && (e.state === 'pull' || e.state === 'conflict'))),
    converged: entries.filter((e) => e.state === 'converged'),
  };
}

function changesOf(send: Entry[]): Change[] {
  return send.map((e) => ({ path: e.path, id: e.ids.local }));
}

export async function push(ctx: Context, o: PushOptions): Promise<PushResult> {
  const name = remoteName(ctx);
  const remote = ctx.remote();
  const fetched = await fetchRemote(ctx, { dryRun: !!o.dryRun });
  let st = await computeStatus(ctx, o.selectors, { tracking: fetched.tracking });
  let { send, converged } = plan(st.entries, !!o.force);
  const result: PushResult = { remote: name, dryRun: !!o.dryRun, pushed: send, converged, version: null, objectsSent: 0, retries: 0 };
  if (send.length) await checkPushable(ctx, send);
  if (o.dryRun) return result;

  // Upload what the remote lacks (object negotiation), reading each file once more and
  // checking it still has the bytes the scan saw.
  const blobs = new Map<ObjectId, Uint8Array>();
  for (const e of send) {
    if (e.ids.local === null || blobs.has(e.ids.local)) continue;
    const bytes = readArtifact(ctx.ws, e.path);
    if (blobId(bytes) !== e.ids.local) fail('PUSH_REFUSED', `services/${e.path} changed while pushing; run the push again`, { path: e.path });
    blobs.set(e.ids.local, bytes);
  }
  await ctx.store.objects.put([...blobs.values()]);
  const lacking = await remote.missing([...blobs.keys()]);
  if (lacking.length) {
    const objs = lacking.map((id) => ({ id, bytes: blobs.get(id)! }));
    for (let i = 0; i < objs.length; i += 1000) await remote.putObjects(objs.slice(i, i + 1000));
  }
  result.objectsSent = lacking.length;

  let version: Version | null = null;
  if (send.length) {
    let remoteManifest: Manifest = st.manifests.remote;
    let expected = st.latestPublished;
    for (;;) {
      const changes = changesOf(send);
      const next = applyChanges(remoteManifest, changes);
      try {
        version = await remote.createVersion({
          expected, changes, snapshot: snapshotHashOf(encodeManifest(next)),
          author: o.author, message: o.message ?? defaultMessage(send), draft: !!o.draft,
        });
        break;
      } catch (e) {
        if (!isAgentsyncError(e) || e.code !== 'STALE_REMOTE' || result.retries >= MAX_RETRIES) throw e;
        result.retries++;
        const before = remoteManifest;
        await fetchRemote(ctx);
        st = await computeStatus(ctx, o.selectors);
        remoteManifest = st.manifests.remote;
        expected = st.latestPublished;
        const touched = new Set(diffManifests(before, remoteManifest).map((c) => c.path));
        const overlap = send.filter((s) => touched.has(s.path));
        if (overlap.length && !o.force) {
          fail('PUSH_REFUSED', `refusing to push: the remote changed ${overlap.map((s) => s.path).slice(0, 3).join(', ')} while you pushed; run \`agentsync status\` and pull first`, { paths: overlap.map((s) => ({ path: s.path, state: 'conflict' })) });
        }
      }
    }
  }
  result.version = version;

  // Record the new base: pushed paths now equal local (unless a draft), converged paths too.
  const base = new Map(st.manifests.base);
  const moved = [...(version && version.state === 'published' ? send : []), ...converged];
  for (const e of moved) {
    if (e.ids.local === null) base.delete(e.path);
    else base.set(e.path, e.ids.local);
  }
  if (moved.length) {
    const { ops } = ctx.store.baseOps(name, base);
    await commit(ctx.store.db, ops);
  }
  if (version) await fetchRemote(ctx); // record the new version; objects are already local
  return result;
}

function defaultMessage(send: Entry[]): string {
  if (send.length === 1) return `update ${send[0]!.path}`;
  return `update ${send.length} artifacts`;
}
