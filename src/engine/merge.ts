/**
 * Three-way merges of one artifact: preview (is it clean?), apply a clean merge, and the
 * explicit conflict workflow — `merge <path>` writes git-style markers and records the merge
 * under `merge!<path>`; `status` reports the artifact as `conflict` until `resolve <path>
 * --ours|--theirs|--merged` settles it and moves the base to the remote side.
 * @module
 */
import { fail } from '../model/errors.js';
import type { ObjectId } from '../model/hash.js';
import { hasConflictMarkers, mergeArtifact, type MergeResult } from '../merge/index.js';
import { dec, jsonValue } from '../store/db.js';
import { MERGE_KEY as KEY, mergeIndexOp, mergeRecord, mergeable, shellWord, type MergeRecord } from './merge-records.js';

export { mergeRecord, mergesInProgress, mergeable, type MergeRecord } from './merge-records.js';
import { commit, type BatchOp } from '../store/objects.js';
import { readArtifact } from '../workspace/scan.js';
import { remoteName, type Context } from './context.js';
import { writeArtifacts } from './pull.js';
import { computeStatus, type Entry } from './status.js';


async function text(ctx: Context, id: ObjectId | null): Promise<string> {
  return id === null ? '' : dec.decode(await ctx.store.objects.need(id, 'merge input'));
}


/** The three-way merge of an entry's base, local (ours) and remote (theirs) contents. */
export async function previewMerge(ctx: Context, e: Entry): Promise<MergeResult> {
  if (!mergeable(e)) {
    if (e.state === 'conflict') fail('NOT_MERGEABLE', `${e.path} is ${e.local} locally and ${e.remote} remotely: there is no text to merge; keep one side with pull --force or push --force`, { path: e.path, state: e.state, local: e.local, remote: e.remote });
    fail('NOT_IN_CONFLICT', `${e.path} is ${e.state}; only an artifact changed on both sides can be merged`, { path: e.path, state: e.state });
  }
  const local = dec.decode(readArtifact(ctx.ws, e.path));
  return mergeArtifact(e.path, await text(ctx, e.ids.base), local, await text(ctx, e.ids.remote));
}

/** Write merged text into the working file (journaled for undo) and move the base to the remote side. */
export async function applyMerge(ctx: Context, e: Entry, merged: string): Promise<void> {
  const name = remoteName(ctx);
  const [id] = await ctx.store.objects.put([new TextEncoder().encode(merged)]);
  const done = await writeArtifacts(ctx, [{ path: e.path, id: id!, prev: e.ids.local }], 'merge', { remote: name, ids: new Map([[e.path, e.ids.base]]), after: new Map([[e.path, e.ids.remote]]) });
  await commit(ctx.store.db, [...(await ctx.store.moveBaseOps(name, [{ path: e.path, id: e.ids.remote }])), ...done]);
}

export interface StartMergeResult {
  path: string;
  clean: boolean;
  conflicts: number;
}

/** `agentsync merge <path>`: apply a clean merge, or write conflict markers and record the merge. */
export async function startMerge(ctx: Context, path: string): Promise<StartMergeResult> {
  const name = remoteName(ctx);
  const p = path.replace(/^services\//, '');
  if (await mergeRecord(ctx, p)) fail('CONFLICT', `${p} is already being merged; edit it, then \`agentsync resolve ${p} --merged\` (or --ours/--theirs)`, { path: p });
  const st = await computeStatus(ctx, [p]);
  const e = st.entries.find((x) => x.path === p);
  if (!e || e.state !== 'conflict') fail('NOT_IN_CONFLICT', `${p} is ${e?.state ?? 'clean'}, not in conflict; nothing to merge`, { path: p, state: e?.state ?? 'clean' });
  // A conflict, but no text to merge: one side deleted it. (It IS in conflict: not NOT_IN_CONFLICT.)
  if (!mergeable(e)) fail('NOT_MERGEABLE', `${p} is ${e.local} locally and ${e.remote} remotely: there is no text to merge; keep the remote side with \`agentsync pull --force ${p}\` or yours with \`agentsync push --force ${p}\``, { path: p, state: e.state, local: e.local, remote: e.remote, hint: `agentsync diff ${shellWord(p)}` });
  const r = await previewMerge(ctx, e);
  if (r.clean) {
    await applyMerge(ctx, e, r.text);
    return { path: p, clean: true, conflicts: 0 };
  }
  const [id] = await ctx.store.objects.put([new TextEncoder().encode(r.text)]);
  const done = await writeArtifacts(ctx, [{ path: p, id: id!, prev: e.ids.local }], 'merge');
  const rec: MergeRecord = { remote: name, path: p, base: e.ids.base, local: e.ids.local, remoteId: e.ids.remote };
  await commit(ctx.store.db, [{ type: 'put', key: KEY + p, value: jsonValue(rec) }, await mergeIndexOp(ctx, p, true), ...done]);
  return { path: p, clean: false, conflicts: r.conflicts };
}

export type Resolution = 'ours' | 'theirs' | 'merged';

/** `agentsync resolve <path> --ours|--theirs|--merged`. */
export async function resolve(ctx: Context, path: string, how: Resolution): Promise<{ path: string; how: Resolution }> {
  const p = path.replace(/^services\//, '');
  const rec = await mergeRecord(ctx, p);
  if (!rec) fail('NOT_IN_CONFLICT', `no merge in progress for ${p}; \`agentsync merge ${p}\` starts one`, { path: p });
  let done: BatchOp[] = [];
  if (how === 'merged') {
    const now = dec.decode(readArtifact(ctx.ws, p));
    if (hasConflictMarkers(now)) fail('CONFLICT_MARKERS', `services/${p} still has conflict markers; edit them out, then resolve again`, { path: p });
  } else {
    const { manifest } = await import('./status.js').then((m) => m.scanLocal(ctx));
    const base = await ctx.store.manifest(await ctx.store.baseSnapshot(rec.remote));
    done = await writeArtifacts(ctx, [{ path: p, id: how === 'ours' ? rec.local : rec.remoteId, prev: manifest.get(p) ?? null }], `resolve --${how}`, { remote: rec.remote, ids: new Map([[p, base.get(p) ?? null]]), after: new Map([[p, rec.remoteId]]) });
  }
  const ops = await ctx.store.moveBaseOps(rec.remote, [{ path: p, id: rec.remoteId }]);
  ops.push({ type: 'del', key: KEY + p }, await mergeIndexOp(ctx, p, false), ...done);
  await commit(ctx.store.db, ops);
  return { path: p, how };
}
