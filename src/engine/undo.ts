/**
 * undo: restore the files the last overwrite (pull, pull --force, sync, merge) replaced.
 * The journal is swapped with the files' current content, so a second undo redoes.
 * @module
 */
import { fail } from '../model/errors.js';
import type { UndoEntry } from '../store/local.js';
import type { Context } from './context.js';
import { writeArtifacts } from './pull.js';
import { scanLocal } from './status.js';

export interface UndoResult {
  op: string;
  at: string;
  restored: UndoEntry[];
}

export async function undo(ctx: Context): Promise<UndoResult> {
  const j = await ctx.store.undo();
  if (!j || j.entries.length === 0) fail('NOTHING_TO_UNDO', 'nothing to undo: no pull or merge has replaced local files since the last undo');
  const { manifest } = await scanLocal(ctx);
  const writes = j.entries
    .map((e) => ({ path: e.path, id: e.id, prev: manifest.get(e.path) ?? null }))
    .filter((w) => w.id !== w.prev);
  await writeArtifacts(ctx, writes, `undo ${j.op}`);
  return { op: j.op, at: j.at, restored: j.entries };
}
