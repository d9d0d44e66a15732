/**
 * pull: write the selected artifacts' remote changes into `services/`. Local-only changes are
 * never touched; conflicts are refused unless `force` (remote wins). Order of writes, so that
 * a kill at any point leaves a state fsck accepts and a rerun completes:
 * 1. store the bytes of every file about to be replaced, then the undo journal naming them;
 * 2. write each file atomically; 3. move the base.
 * @module
 */
import { join } from 'node:path';
import { fail } from '../model/errors.js';
import { blobId, type ObjectId } from '../model/hash.js';
import { commit } from '../store/objects.js';
import type { UndoEntry } from '../store/local.js';
import { atomicWrite, removeFile } from '../workspace/fsio.js';
import { readArtifact } from '../workspace/scan.js';
import { remoteName, type Context } from './context.js';
import { fetchRemote } from './fetch.js';
import { computeStatus, type Entry } from './status.js';

export interface PullOptions {
  selectors: readonly string[];
  dryRun?: boolean;
  force?: boolean;
  /** Skip the implicit fetch (the caller just fetched). */
  noFetch?: boolean;
}

export interface PullResult {
  remote: string;
  dryRun: boolean;
  /** Entries whose remote content is (or would be) written locally. */
  pulled: Entry[];
  converged: Entry[];
  version: number | null;
}

export function planPull(entries: Entry[], force: boolean): { take: Entry[]; converged: Entry[] } {
  const conflicts = entries.filter((e) => e.state === 'conflict');
  if (conflicts.length && !force) {
    fail('PULL_REFUSED', `refusing to pull: ${conflicts.length} artifact(s) changed on both sides (${conflicts.slice(0, 3).map((e) => e.path).join(', ')}${conflicts.length > 3 ? ', …' : ''}); see \`agentsync diff\`, then push --force or pull --force`, { paths: conflicts.map((e) => ({ path: e.path, state: e.state })) });
  }
  return {
    take: entries.filter((e) => e.state === 'pull' || (force && e.state === 'conflict')),
    converged: entries.filter((e) => e.state === 'converged'),
  };
}

export async function pull(ctx: Context, o: PullOptions): Promise<PullResult> {
  const name = remoteName(ctx);
  if (!o.noFetch) await fetchRemote(ctx);
  const st = await computeStatus(ctx, o.selectors);
  const { take, converged } = planPull(st.entries, !!o.force);
  const result: PullResult = { remote: name, dryRun: !!o.dryRun, pulled: take, converged, version: st.latestPublished };
  if (o.dryRun || (take.length === 0 && converged.length === 0)) return result;
  await writeArtifacts(ctx, take.map((e) => ({ path: e.path, id: e.ids.remote, prev: e.ids.local })), 'pull');
  const base = new Map(st.manifests.base);
  for (const e of [...take, ...converged]) {
    if (e.ids.remote === null) base.delete(e.path);
    else base.set(e.path, e.ids.remote);
  }
  await commit(ctx.store.db, ctx.store.baseOps(name, base).ops);
  return result;
}

export interface Write {
  path: string;
  /** New blob (null: delete the file). */
  id: ObjectId | null;
  /** The blob the working file has now (null: absent). */
  prev: ObjectId | null;
}

/**
 * Replace working files, journaling what they held first so `undo` can restore it.
 * The previous bytes are stored in the object store before any file is touched.
 */
export async function writeArtifacts(ctx: Context, writes: Write[], op: string): Promise<void> {
  if (writes.length === 0) return;
  const keep: Uint8Array[] = [];
  const entries: UndoEntry[] = [];
  for (const w of writes) {
    let prev = w.prev;
    if (prev !== null && !(await ctx.store.objects.has(prev))) {
      const bytes = readArtifact(ctx.ws, w.path);
      prev = blobId(bytes); // what is on disk now, even if it changed since the scan
      keep.push(bytes);
    }
    entries.push({ path: w.path, id: prev });
  }
  await ctx.store.objects.put(keep);
  await commit(ctx.store.db, [ctx.store.undoOp({ at: new Date().toISOString(), op, entries })]);
  for (const w of writes) {
    const abs = join(ctx.ws.services, ...w.path.split('/'));
    if (w.id === null) removeFile(abs);
    else atomicWrite(abs, await ctx.store.objects.need(w.id, `blob of ${w.path}`));
  }
}
