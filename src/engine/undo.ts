/**
 * undo: restore the files the last overwrite (pull, pull --force, merge, resolve) replaced,
 * and move their base back to where it stood, so the artifacts are in the state they were
 * before — a conflict stays a conflict, and a plain push cannot then overwrite the remote.
 * The journal is swapped with the current content, so a second undo redoes.
 *
 * A journal still marked pending (its operation was killed midway and not rerun) lists the
 * state before that operation: restoring it is right. An undo that was itself interrupted left
 * the journal it was restoring in the pending mark: the next undo resumes it instead of
 * swapping back.
 * @module
 */
import { fail } from '../model/errors.js';
import type { UndoEntry } from '../store/local.js';
import { commit } from '../store/objects.js';
import type { Context } from './context.js';
import { writeArtifacts, type BaseBefore } from './pull.js';
import { scanLocal } from './status.js';

export interface UndoResult {
  op: string;
  at: string;
  restored: UndoEntry[];
}

export async function undo(ctx: Context): Promise<UndoResult> {
  const pending = await ctx.store.pendingUndo();
  const resuming = pending?.marker.undoing;
  const j = resuming ?? pending?.journal ?? (await ctx.store.undo());
  if (!j || j.entries.length === 0) fail('NOTHING_TO_UNDO', 'nothing to undo: no pull or merge has replaced local files since the last undo');
  const { manifest } = await scanLocal(ctx);
  const writes = j.entries.map((e) => ({ path: e.path, id: e.id, prev: manifest.get(e.path) ?? null }));
  let bases: BaseBefore | undefined;
  let base;
  if (j.remote) {
    base = await ctx.store.manifest(await ctx.store.baseSnapshot(j.remote));
    // A journal whose base has moved since (a push, pull, sync or resolve after it) describes a
    // state that is gone: replaying it would undo more than the operation, or arm an overwrite.
    // (A pending journal's operation never moved the base: nothing to compare.)
    if (!pending) {
      const moved = j.entries.filter((e) => e.after !== undefined && (base!.get(e.path) ?? null) !== e.after);
      if (moved.length) {
        fail('UNDO_STALE', `refusing to undo the ${j.op} of ${j.at}: the base of ${moved.slice(0, 3).map((e) => e.path).join(', ')}${moved.length > 3 ? ', …' : ''} has moved since (a push, pull, sync or resolve after it), so undo would restore a state that is gone; nothing was changed`, { op: j.op, at: j.at, paths: moved.map((e) => e.path) });
      }
    }
    bases = {
      remote: j.remote, ids: new Map(j.entries.filter((e) => e.base !== undefined).map((e) => [e.path, base!.get(e.path) ?? null])),
      after: new Map(j.entries.filter((e) => e.base !== undefined).map((e) => [e.path, e.base ?? null])),
    };
  }
  const done = await writeArtifacts(ctx, writes, j.op.startsWith('undo ') ? j.op.slice(5) : `undo ${j.op}`, bases, { undoing: j, resume: !!resuming });
  const ops = [...done];
  if (j.remote && base) {
    const back = j.entries.flatMap((e) => (e.base === undefined ? [] : [{ path: e.path, id: e.base }]));
    ops.unshift(...(await ctx.store.moveBaseOps(j.remote, back, base)));
  }
  await commit(ctx.store.db, ops);
  return { op: j.op, at: j.at, restored: j.entries };
}
