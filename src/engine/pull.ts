/**
 * pull: write the selected artifacts' remote changes into `services/`. Local-only changes are
 * never touched; conflicts are refused unless `force` (remote wins). Order of writes, so that
 * a kill at any point leaves a state fsck accepts and a rerun completes:
 * 1. store the bytes of every file about to be replaced, then the undo journal naming them
 *    (marked pending; a rerun after a kill merges into it, see writeArtifacts);
 * 2. write each file atomically; 3. move the base and clear the pending mark, in one batch.
 * @module
 */
import { join } from 'node:path';
import { findGitRoot } from '../workspace/git.js';
import { conflictHint, mergeable, shellWord } from './merge-records.js';
import { fail, isAgentsyncError } from '../model/errors.js';
import { blobId, type ObjectId } from '../model/hash.js';
import { EMPTY_SNAPSHOT, patchManifest, snapshotHashOf } from '../model/manifest.js';
import { compareUtf8 } from '../model/paths.js';
import { commit, type BatchOp } from '../store/objects.js';
import type { UndoEntry, UndoJournal } from '../store/local.js';
import { checkWritable, writeFilesAtomically } from '../workspace/fsio.js';
import { readArtifact } from '../workspace/scan.js';
import { remoteName, type Context } from './context.js';
import { fetchRemote } from './fetch.js';
import { computeStatus, type Entry, type Status } from './status.js';

export interface PullOptions {
  selectors: readonly string[];
  dryRun?: boolean;
  /** Remote wins on conflicts, and files with uncommitted git changes are replaced. */
  force?: boolean;
  /** Skip the implicit fetch (the caller just fetched). */
  noFetch?: boolean;
  /** Commit the written files to git (message names the remote and version). */
  commit?: boolean;
  author?: string;
}

export interface PullResult {
  remote: string;
  dryRun: boolean;
  /** Entries whose remote content is (or would be) written locally. */
  pulled: Entry[];
  /** Conflicts merged cleanly: local and remote edits both kept (they now show as `push`). */
  merged: Entry[];
  converged: Entry[];
  version: number | null;
  /** The git commit made with `commit`, if any. */
  commit?: string | null;
  /**
   * With `commit`: merged files left out of the commit because the local side held uncommitted
   * git edits (committing them would commit bytes that are neither in HEAD nor from the remote).
   */
  uncommitted?: string[];
  /**
   * A dry run reports what would block the pull instead of failing: true conflicts
   * (`conflict`) and files with uncommitted git changes it would replace (`git-dirty`).
   */
  blocked?: { path: string; state: string; reason: 'conflict' | 'git-dirty' }[];
}

/** Which entries a pull writes; throws PULL_REFUSED for conflicts left after merging, unless force. */
export function planPull(entries: Entry[], force: boolean, merged: ReadonlySet<string> = new Set()): { take: Entry[]; converged: Entry[] } {
  const conflicts = entries.filter((e) => e.state === 'conflict' && !merged.has(e.path));
  if (conflicts.length && !force) {
    fail('PULL_REFUSED', `refusing to pull: ${conflicts.length} artifact(s) changed on both sides (${conflicts.slice(0, 3).map((e) => e.path).join(', ')}${conflicts.length > 3 ? ', …' : ''}); see \`agentsync diff ${shellWord(conflicts[0]!.path)}\`; \`agentsync merge <path>\` resolves one by hand, or pick a side with pull --force or push --force`, { paths: conflicts.map((e) => ({ path: e.path, state: e.state })), hint: conflictHint(conflicts[0]!) });
  }
  return {
    take: entries.filter((e) => e.state === 'pull' || (force && e.state === 'conflict' && !merged.has(e.path))),
    converged: entries.filter((e) => e.state === 'converged'),
  };
}

export async function pull(ctx: Context, o: PullOptions): Promise<PullResult> {
  const name = remoteName(ctx);
  const fetched = o.noFetch ? undefined : await fetchRemote(ctx, { dryRun: !!o.dryRun });
  const st = await computeStatus(ctx, o.selectors, fetched ? { tracking: fetched.tracking } : {});
  // Without force, conflicts whose three-way merge is clean are merged, keeping both sides' edits.
  const merges = new Map<string, { e: Entry; text: string }>();
  if (!o.force) {
    const candidates = st.entries.filter(mergeable);
    if (candidates.length) {
      const { previewMerge } = await import('./merge.js');
      for (const e of candidates) {
        const r = await previewMerge(ctx, e);
        if (r.clean) merges.set(e.path, { e, text: r.text });
      }
    }
  }
  // A dry run shows the whole plan, what blocks included, instead of stopping at the first refusal.
  const blocked: NonNullable<PullResult['blocked']> = [];
  const merged = [...merges.values()].map((m) => m.e);
  let plan: { take: Entry[]; converged: Entry[] };
  try {
    plan = planPull(st.entries, !!o.force, new Set(merges.keys()));
  } catch (e) {
    if (!o.dryRun || !isAgentsyncError(e) || e.code !== 'PULL_REFUSED') throw e;
    for (const p of e.data.paths as { path: string; state: string }[]) blocked.push({ ...p, reason: 'conflict' });
    plan = planPull(st.entries.filter((x) => !(x.state === 'conflict' && !merges.has(x.path))), false, new Set(merges.keys()));
  }
  const { take, converged } = plan;
  const result: PullResult = { remote: name, dryRun: !!o.dryRun, pulled: take, merged, converged, version: st.latestPublished, ...(o.dryRun ? { blocked } : {}) };
  if (take.length === 0 && merged.length === 0 && converged.length === 0) return result;
  // git awareness: never replace a file whose uncommitted git changes would be lost, unless forced.
  const gitRoot = findGitRoot(ctx.ws.root);
  if (gitRoot && !o.force) {
    const replaced = take.filter((e) => e.ids.local !== null);
    if (replaced.length) {
      const { gitDirty } = await import('../workspace/git.js');
      const dirty = await gitDirty(gitRoot, replaced.map((e) => absPath(ctx, e.path)));
      const paths = replaced.filter((e) => dirty.has(absPath(ctx, e.path))).map((e) => e.path);
      if (paths.length && o.dryRun) {
        for (const path of paths) blocked.push({ path, state: 'pull', reason: 'git-dirty' });
      } else if (paths.length) {
        fail('GIT_DIRTY', `refusing to replace ${paths.slice(0, 3).join(', ')}${paths.length > 3 ? ', …' : ''}: uncommitted git changes would be lost; commit or stash them, or pull --force`, { paths });
      }
    }
  }
  if (o.dryRun) return result;
  // --commit commits only bytes from git's HEAD or from the remote: a clean merge into a file
  // with uncommitted edits is written but left uncommitted.
  const keepOut = o.commit && gitRoot && merged.length ? await (await import('../workspace/git.js')).gitDirty(gitRoot, merged.map((e) => absPath(ctx, e.path))) : new Set<string>();
  const texts = merged.length ? await ctx.store.objects.put([...merges.values()].map((m) => new TextEncoder().encode(m.text))) : [];
  // Converged artifacts are journaled too (their base moves): `undo` then moves it back, and a
  // rerun after a kill sees the files already written as converged.
  const done = await writeArtifacts(ctx, [
    ...take.map((e) => ({ path: e.path, id: e.ids.remote, prev: e.ids.local })),
    ...merged.map((e, i) => ({ path: e.path, id: texts[i]!, prev: e.ids.local })),
    ...converged.map((e) => ({ path: e.path, id: e.ids.remote, prev: e.ids.local, converged: true })),
  ], o.force ? 'pull --force' : 'pull', {
    remote: name, ids: new Map([...take, ...merged, ...converged].map((e) => [e.path, e.ids.base])),
    after: new Map([...take, ...merged, ...converged].map((e) => [e.path, e.ids.remote])),
  }, { coversAll: o.selectors.length === 0 });
  await commit(ctx.store.db, [...(await movedBaseOps(ctx, name, st, [...take, ...merged, ...converged])), ...done]);
  if (o.commit && gitRoot && take.length + merged.length) {
    const { gitCommit } = await import('../workspace/git.js');
    const files = [...take, ...merged].map((e) => absPath(ctx, e.path)).filter((p) => !keepOut.has(p));
    result.uncommitted = merged.filter((e) => keepOut.has(absPath(ctx, e.path))).map((e) => e.path);
    result.commit = files.length ? await gitCommit(gitRoot, files, `agentsync: pull from ${name} v${st.latestPublished}`, o.author) : null;
  }
  return result;
}


/**
 * Ops that move the base of `moved` to their remote ids: the stored base bytes patched (no
 * re-encode of the whole base); the manifest object is written only when it is not stored
 * already (pulling everything makes the base the fetched remote snapshot, which is).
 */
async function movedBaseOps(ctx: Context, name: string, st: Status, moved: Entry[]): Promise<BatchOp[]> {
  const changes = moved.map((e) => ({ path: e.path, id: e.ids.remote })).sort((a, b) => compareUtf8(a.path, b.path));
  const stored = st.base === EMPTY_SNAPSHOT ? new Uint8Array(0) : await ctx.store.manifests.get(st.base);
  const bytes = stored && patchManifest(stored, changes);
  if (!bytes) return ctx.store.moveBaseOps(name, changes, st.manifests.base);
  const snapshot = snapshotHashOf(bytes);
  const known = snapshot === EMPTY_SNAPSHOT || snapshot === st.remoteSnapshot || snapshot === st.base;
  return [...(known ? [] : (await ctx.store.encodedManifestOps(bytes, snapshot)).ops), ctx.store.baseRefOp(name, snapshot)];
}

function absPath(ctx: Context, path: string): string {
  return join(ctx.ws.services, ...path.split('/'));
}


/** Files written per durable batch (bounds memory on a large pull). */
const WRITE_CHUNK = 1000;

export interface Write {
  path: string;
  /** New blob (null: delete the file). */
  id: ObjectId | null;
  /** The blob the working file has now (null: absent). */
  prev: ObjectId | null;
  /**
   * Already at `id` (a `converged` artifact): nothing is written, only journaled so that `undo`
   * moves its base back. A write made only of these journals nothing, unless it completes an
   * interrupted one.
   */
  converged?: boolean;
}

/** The base a write operation is about to move, so that `undo` can move it back. */
export interface BaseBefore {
  remote: string;
  /** path → base blob before the operation (null: absent). */
  ids: Map<string, ObjectId | null>;
  /** path → base blob the operation leaves (null: absent), so that `undo` can tell it moved since. */
  after?: Map<string, ObjectId | null>;
}

export interface WriteOptions {
  /**
   * The operation looked at every artifact (no selectors): when it ends, the interrupted
   * operation it merged into is finished too, whatever paths it wrote.
   */
  coversAll?: boolean;
  /** `undo` only: the journal being restored. The new journal replaces a pending one, unless `resume`. */
  undoing?: UndoJournal;
  /** `undo` only: an interrupted undo of `undoing` is being resumed (merge into its journal). */
  resume?: boolean;
}

/**
 * Test-only hook: `AGENTSYNC_TEST_FAIL_AFTER_WRITES=<n>` makes a journaled write stop with
 * INTERNAL after writing n files, the way a kill would leave it (journal written and marked
 * pending, n files written, base not moved). Used by test/undo.test.ts; not a user setting.
 */
function failAfterWrites(): number | undefined {
  const v = process.env.AGENTSYNC_TEST_FAIL_AFTER_WRITES;
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/**
 * Merge the journal of an operation into the pending journal of an interrupted one: a path the
 * interrupted operation journaled keeps its entry (the file and base before it — the ones to
 * restore), taking the new base only if it had none; new paths are added. Both must move the
 * base of the same remote (entries' `base` are that remote's).
 */
export function mergeJournals(old: UndoJournal, next: UndoJournal): UndoJournal {
  if (old.remote && next.remote && old.remote !== next.remote) {
    fail('CONFLICT', `an interrupted ${old.op} from ${old.remote} (${old.at}) has not finished; run \`agentsync pull --remote ${old.remote}\` again to complete it, or \`agentsync undo\` to restore the files it replaced, before using ${next.remote}`, { pending: { op: old.op, at: old.at, remote: old.remote } });
  }
  const fresh = new Map(next.entries.map((e) => [e.path, e]));
  const entries = old.entries.map((e) => {
    const n = fresh.get(e.path);
    fresh.delete(e.path);
    const merged = e.base === undefined && n?.base !== undefined ? { ...e, base: n.base } : e;
    return n?.after !== undefined ? { ...merged, after: n.after } : merged; // the base the resumed operation leaves
  });
  entries.push(...fresh.values());
  const remote = old.remote ?? next.remote;
  return { at: old.at, op: old.op, ...(remote ? { remote } : {}), entries };
}

/**
 * Replace working files, journaling what they held (and, with `bases`, where the base stood)
 * first so `undo` can restore both. The previous bytes are stored in the object store before
 * any file is touched. Writes whose content is already in place are journaled but skipped.
 *
 * The journal is written marked pending (`undo-pending`); the caller ends the operation by
 * committing the returned ops in the batch that moves the base (or records the merge), which
 * clear the mark. When an earlier operation left its journal pending (killed midway), this one
 * merges into it (see mergeJournals), so `undo` restores the state before the interrupted one;
 * the mark is cleared only when this operation covers every path of that journal.
 */
export async function writeArtifacts(ctx: Context, writes: Write[], op: string, bases?: BaseBefore, o: WriteOptions = {}): Promise<BatchOp[]> {
  if (writes.length === 0) return [];
  // Nothing is written (not even the journal) unless every path can be: no link on the way, no
  // file or folder in the way.
  checkWritable(ctx.ws.services, writes.filter((w) => w.id !== w.prev).map((w) => ({ path: w.path, delete: w.id === null })));
  const pending = o.undoing && !o.resume ? undefined : await ctx.store.pendingUndo();
  if (!pending && writes.every((w) => w.converged)) return [];
  const keep: Uint8Array[] = [];
  const entries: UndoEntry[] = [];
  const prevIds = [...new Set(writes.map((w) => w.prev).filter((x): x is ObjectId => x !== null))];
  const unstored = new Set(await ctx.store.objects.missing(prevIds));
  for (const w of writes) {
    let prev = w.prev;
    if (prev !== null && unstored.has(prev)) {
      const bytes = readArtifact(ctx.ws, w.path);
      prev = blobId(bytes); // what is on disk now, even if it changed since the scan
      keep.push(bytes);
    }
    entries.push({
      path: w.path, id: prev, ...(bases?.ids.has(w.path) ? { base: bases.ids.get(w.path) ?? null } : {}),
      ...(bases?.after?.has(w.path) ? { after: bases.after.get(w.path) ?? null } : {}),
    });
  }
  const own: UndoJournal = { at: new Date().toISOString(), op, ...(bases ? { remote: bases.remote } : {}), entries };
  const journal = pending ? mergeJournals(pending.journal, own) : own;
  await ctx.store.objects.put(keep);
  await commit(ctx.store.db, [
    ctx.store.undoOp(journal),
    // A fresh journal gets its mark. Merging into an interrupted undo's journal, anything but
    // the resumed undo makes it an ordinary pending journal (undo then restores its state).
    ...(!pending ? [ctx.store.undoPendingOp({ at: journal.at, op, ...(o.undoing ? { undoing: o.undoing } : {}) })]
      : pending.marker.undoing && !o.resume ? [ctx.store.undoPendingOp({ at: pending.marker.at, op: pending.marker.op })] : []),
  ]);
  // Deletions first: a file may take the place of a folder the same pull empties, or the reverse.
  const todo = writes.filter((w) => w.id !== w.prev).sort((a, b) => (a.id === null ? 0 : 1) - (b.id === null ? 0 : 1));
  const stop = failAfterWrites();
  const end = stop === undefined ? todo.length : Math.min(stop, todo.length);
  for (let i = 0; i < end; i += WRITE_CHUNK) {
    const chunk = todo.slice(i, Math.min(i + WRITE_CHUNK, end));
    const blobs = await ctx.store.objects.getMany(chunk.map((w) => w.id ?? ''));
    writeFilesAtomically(ctx.ws.services, chunk.map((w, k) => {
      const data = w.id === null ? null : blobs[k];
      if (data === undefined) fail('OBJECT_MISSING', `the blob of ${w.path} is missing from the store; run \`agentsync fetch\`, then \`agentsync fsck\``, { path: w.path, id: w.id });
      return { path: join(ctx.ws.services, ...w.path.split('/')), data };
    }));
  }
  if (end < todo.length) fail('INTERNAL', `stopped after writing ${end} of ${todo.length} files (AGENTSYNC_TEST_FAIL_AFTER_WRITES, a test hook)`, { written: end });
  const written = new Set(writes.map((w) => w.path));
  const settles = !pending || o.coversAll || journal.entries.every((e) => written.has(e.path));
  return settles ? [ctx.store.undoPendingOp(null)] : [];
}
