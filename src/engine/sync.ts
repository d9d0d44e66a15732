/**
 * sync: reconcile the workspace with the remote's latest published version, one decision per
 * drifted artifact — push (local wins), pull (remote wins), merge (clean three-way merge) or
 * skip. The engine plans (what drifted, which merges are clean) and applies a list of
 * decisions; asking the user is the CLI's job.
 *
 * Applying is all-or-nothing up to the first write: every refusal (PUSH_REFUSED, PULL_REFUSED,
 * GIT_DIRTY) is raised before anything changes. Then all local writes (pulls and merges) go
 * through one journaled write, so a single `agentsync undo` restores every file the sync
 * replaced; the base moves once; and every push goes out as ONE new version.
 * @module
 */
import { join } from 'node:path';
import { AgentsyncError, fail, isAgentsyncError } from '../model/errors.js';
import type { ObjectId } from '../model/hash.js';
import type { Version } from '../model/version.js';
import { commit } from '../store/objects.js';
import { remoteName, type Context } from './context.js';
import { fetchRemote } from './fetch.js';
import { conflictHint, mergeable, shellWord } from './merge-records.js';
import { writeArtifacts, type Write } from './pull.js';
import { push } from './push.js';
import { computeStatus, type Entry } from './status.js';

/** Error codes that mean "the remote cannot be reached right now" (sync never blocks on them). */
export const OFFLINE_CODES: ReadonlySet<string> = new Set(['REMOTE_UNREACHABLE', 'REMOTE_BUSY']);

export function isOffline(e: unknown): e is AgentsyncError {
  return isAgentsyncError(e) && OFFLINE_CODES.has(e.code);
}

export interface SyncItem {
  entry: Entry;
  /** Conflicts only: the clean three-way merge, when there is one. */
  mergeText: string | null;
  /** YAML whose bytes differ but whose value is equal on both sides. */
  formatOnly: boolean;
}

export interface SyncPlan {
  remote: string;
  latestPublished: number | null;
  /** Drifted artifacts (push, pull, conflict), in path order. */
  items: SyncItem[];
  /** Format-only drift left out by `semantic`. */
  ignored: SyncItem[];
  /** Both sides made the same change: only the base needs recording. */
  converged: Entry[];
  /** Artifacts in the middle of `agentsync merge` (markers in the file): `agentsync resolve` finishes them. */
  merging: Entry[];
  /** The selectors planned for (none: every artifact). */
  selectors: readonly string[];
}

export interface PlanOptions {
  selectors: readonly string[];
  /** Leave out format-only YAML drift. */
  semantic?: boolean;
  /** Compute clean merges of conflicts (not needed for a check). */
  previews?: boolean;
}

/** What drifted against the last fetch (call fetchRemote first). Offline and read-only. */
export async function planSync(ctx: Context, o: PlanOptions): Promise<SyncPlan> {
  const remote = remoteName(ctx);
  const st = await computeStatus(ctx, o.selectors, { formatOnly: true });
  const items: SyncItem[] = [];
  const ignored: SyncItem[] = [];
  const converged: Entry[] = [];
  const merging: Entry[] = [];
  for (const e of st.entries) {
    if (e.merging) { merging.push(e); continue; }
    if (e.state === 'converged') { converged.push(e); continue; }
    if (e.state === 'clean') continue;
    const item: SyncItem = { entry: e, mergeText: null, formatOnly: !!o.semantic && e.formatOnly === true };
    if (item.formatOnly) { ignored.push(item); continue; }
    if (o.previews && mergeable(e)) {
      const { previewMerge } = await import('./merge.js');
      const r = await previewMerge(ctx, e);
      if (r.clean) item.mergeText = r.text;
    }
    items.push(item);
  }
  return { remote, latestPublished: st.latestPublished, items, ignored, converged, merging, selectors: o.selectors };
}

/**
 * Fetch, reporting an unreachable remote as a value instead of throwing. A directory remote
 * that does not exist yet is empty (the first sync pushes it into being), as for push.
 */
export async function fetchForSync(ctx: Context): Promise<AgentsyncError | null> {
  try {
    await fetchRemote(ctx, { allowNew: true });
    return null;
  } catch (e) {
    if (isOffline(e)) return e;
    throw e;
  }
}

export type Choice = 'push' | 'pull' | 'merge' | 'skip';

export interface Decision {
  item: SyncItem;
  choice: Choice;
}

export interface ApplyOptions {
  author: string;
  message?: string;
  /**
   * Flag mode (`--push` / `--pull`): overwriting the other side's changes needs this. In
   * explicit mode it only lifts the git check.
   */
  force?: boolean;
  /**
   * Every decision was made by the user, artifact by artifact, after seeing its diff: pushing
   * over remote changes or pulling over local ones is what was asked, so it is not refused.
   */
  explicit?: boolean;
  /** Push merged results too, so both sides end equal (interactive sync). */
  pushMerged?: boolean;
  /** Commit the files written locally to git. */
  commit?: boolean;
  env?: Record<string, string | undefined>;
}

export interface SyncResult {
  remote: string;
  latestPublished: number | null;
  pushed: string[];
  pulled: string[];
  merged: string[];
  skipped: string[];
  converged: string[];
  /** The version the pushes made (one per sync), if any. */
  version: Version | null;
  /** The git commit of the written files (with `commit`). */
  commit: string | null;
  /** With `commit`: merged files left uncommitted (they held uncommitted git edits). */
  uncommitted?: string[];
}

function absPath(ctx: Context, path: string): string {
  return join(ctx.ws.services, ...path.split('/'));
}

function refusedPaths(ds: Decision[]) {
  return ds.map((d) => ({ path: d.item.entry.path, state: d.item.entry.state }));
}

function list(ds: Decision[]): string {
  return `${ds.slice(0, 3).map((d) => d.item.entry.path).join(', ')}${ds.length > 3 ? ', …' : ''}`;
}

/** Apply the decisions (see the module comment for the order and the refusals). */
export async function applySync(ctx: Context, plan: SyncPlan, decisions: Decision[], o: ApplyOptions): Promise<SyncResult> {
  const name = plan.remote;
  const by = (c: Choice) => decisions.filter((d) => d.choice === c);
  const pushes = by('push'), pulls = by('pull'), merges = by('merge');
  for (const d of merges) {
    if (d.item.mergeText === null) fail('CONFLICT', `${d.item.entry.path} has no clean merge; \`agentsync merge ${shellWord(d.item.entry.path)}\` merges it by hand, or choose push or pull for it`, { path: d.item.entry.path, hint: `agentsync merge ${shellWord(d.item.entry.path)}` });
  }
  if (!o.explicit && !o.force) {
    const overRemote = pushes.filter((d) => d.item.entry.state !== 'push');
    if (overRemote.length) {
      const first = overRemote[0]!.item.entry;
      // A conflict is refused by pull too: the way out is a merge (or --force), not a pull.
      const hint = first.state === 'conflict' ? conflictHint(first) : `agentsync pull ${shellWord(first.path)}`;
      const how = first.state === 'conflict'
        ? `see \`agentsync diff ${shellWord(first.path)}\`, then \`agentsync merge <path>\` to merge by hand, or sync --push --force to overwrite the remote`
        : `take them with \`agentsync pull\`, or sync --push --force to revert them on the remote`;
      fail('PUSH_REFUSED', `refusing to push: ${overRemote.length} artifact(s) changed on the remote (${list(overRemote)}); ${how}`, { paths: refusedPaths(overRemote), hint });
    }
    const overLocal = pulls.filter((d) => d.item.entry.state !== 'pull');
    if (overLocal.length) {
      const first = overLocal[0]!.item.entry;
      // A conflict is refused by push too: the way out is a merge (or --force), not a push.
      const hint = first.state === 'conflict' ? conflictHint(first) : `agentsync push ${shellWord(first.path)}`;
      const how = first.state === 'conflict'
        ? `see \`agentsync diff ${shellWord(first.path)}\`, then \`agentsync merge <path>\` to merge by hand, or sync --pull --force to take the remote's`
        : `send them with \`agentsync push\`, or sync --pull --force to discard them and take the remote's`;
      fail('PULL_REFUSED', `refusing to pull: ${overLocal.length} artifact(s) have local changes that would be overwritten (${list(overLocal)}); ${how}`, { paths: refusedPaths(overLocal), hint });
    }
  }
  // git awareness: a flag-driven pull never replaces a file with uncommitted git changes unless forced.
  const { findGitRoot } = await import('../workspace/git.js');
  const gitRoot = findGitRoot(ctx.ws.root);
  const replaced = pulls.filter((d) => d.item.entry.ids.local !== null);
  if (gitRoot && !o.explicit && !o.force && replaced.length) {
    const { gitDirty } = await import('../workspace/git.js');
    const dirty = await gitDirty(gitRoot, replaced.map((d) => absPath(ctx, d.item.entry.path)));
    const paths = replaced.map((d) => d.item.entry.path).filter((p) => dirty.has(absPath(ctx, p)));
    if (paths.length) fail('GIT_DIRTY', `refusing to replace ${paths.slice(0, 3).join(', ')}${paths.length > 3 ? ', …' : ''}: uncommitted git changes would be lost; commit or stash them (\`git stash\`), or sync --pull --force`, { paths, hint: 'git stash' });
  }

  const result: SyncResult = {
    remote: name, latestPublished: plan.latestPublished,
    pushed: [], pulled: pulls.map((d) => d.item.entry.path), merged: merges.map((d) => d.item.entry.path),
    skipped: by('skip').map((d) => d.item.entry.path), converged: plan.converged.map((e) => e.path),
    version: null, commit: null,
  };

  // --commit commits only bytes from HEAD or the remote: merges into uncommitted edits stay out.
  const keepOut = o.commit && gitRoot && merges.length ? await (await import('../workspace/git.js')).gitDirty(gitRoot, merges.map((d) => absPath(ctx, d.item.entry.path))) : new Set<string>();
  // 1. Local writes, one journal for all of them; then the base, once.
  const writes: Write[] = pulls.map((d) => ({ path: d.item.entry.path, id: d.item.entry.ids.remote, prev: d.item.entry.ids.local }));
  const mergedIds = new Map<string, ObjectId>();
  if (merges.length) {
    const ids = await ctx.store.objects.put(merges.map((d) => new TextEncoder().encode(d.item.mergeText!)));
    merges.forEach((d, i) => { writes.push({ path: d.item.entry.path, id: ids[i]!, prev: d.item.entry.ids.local }); mergedIds.set(d.item.entry.path, ids[i]!); });
  }
  // Journal where the base stood too, so that `undo` puts these artifacts back exactly as they
  // were; converged ones only for their base (and a rerun after a kill sees written files so).
  const bases = new Map<string, ObjectId | null>([...pulls, ...merges].map((d) => [d.item.entry.path, d.item.entry.ids.base]));
  for (const e of plan.converged) bases.set(e.path, e.ids.base);
  const done = await writeArtifacts(ctx, [...writes, ...plan.converged.map((e) => ({ path: e.path, id: e.ids.remote, prev: e.ids.local, converged: true }))], 'sync', { remote: name, ids: bases, after: new Map([...[...pulls, ...merges].map((d) => [d.item.entry.path, d.item.entry.ids.remote] as const), ...plan.converged.map((e) => [e.path, e.ids.remote] as const)]) }, { coversAll: plan.selectors.length === 0 });
  const moves: { path: string; id: ObjectId | null }[] = [
    ...[...pulls, ...merges].map((d) => ({ path: d.item.entry.path, id: d.item.entry.ids.remote })),
    ...plan.converged.map((e) => ({ path: e.path, id: e.ids.remote })),
  ];
  if (moves.length || done.length) await commit(ctx.store.db, [...(moves.length ? await ctx.store.moveBaseOps(name, moves) : []), ...done]);
  if (o.commit && gitRoot && writes.length) {
    const { gitCommit } = await import('../workspace/git.js');
    const files = writes.map((w) => absPath(ctx, w.path)).filter((p) => !keepOut.has(p));
    if (keepOut.size) result.uncommitted = merges.map((d) => d.item.entry.path).filter((p) => keepOut.has(absPath(ctx, p)));
    result.commit = files.length ? await gitCommit(gitRoot, files, `agentsync: sync from ${name} v${plan.latestPublished ?? 0}`, o.author, o.env) : null;
  }

  // 2. Every push as one version.
  const send = [...pushes, ...(o.pushMerged ? merges : [])];
  if (send.length) {
    const selectors = send.map((d) => d.item.entry.path);
    const overwrite = pushes.filter((d) => d.item.entry.state !== 'push');
    const force = overwrite.length > 0 && (o.explicit || !!o.force);
    if (force && o.explicit) {
      // The user chose to overwrite the remote changes they saw, not ones made since: check.
      const seen = new Map(overwrite.map((d) => [d.item.entry.path, d.item.entry.ids.remote]));
      const dry = await push(ctx, { selectors, dryRun: true, force: true, author: o.author });
      const moved = dry.pushed.filter((e) => e.state !== 'push' && (!seen.has(e.path) || seen.get(e.path) !== e.ids.remote));
      if (moved.length) {
        fail('STALE_REMOTE', `the remote changed ${moved.slice(0, 3).map((e) => e.path).join(', ')} while you were choosing; nothing was pushed — run sync again`, { paths: moved.map((e) => ({ path: e.path, state: e.state })) });
      }
    }
    // Unless the user gave one, the version's message says what it is.
    const said = [
      pushes.length ? `push ${pushes.length === 1 ? pushes[0]!.item.entry.path : `${pushes.length} artifacts`}` : '',
      o.pushMerged && merges.length ? `merge of ${merges.length === 1 ? merges[0]!.item.entry.path : `${merges.length} artifacts`} with ${name} v${plan.latestPublished ?? 0}` : '',
    ].filter(Boolean).join('; ');
    const r = await push(ctx, { selectors, force, author: o.author, message: o.message ?? `sync: ${said}` });
    result.version = r.version;
    result.pushed = r.pushed.map((e) => e.path);
    // The merged results were pushed by this same sync: the journal's base "after" is where the
    // push left it, so one `undo` of the sync stays possible (a later push would refuse it).
    if (o.pushMerged && mergedIds.size && r.version && r.version.state === 'published') {
      const j = await ctx.store.undo();
      const sent = new Set(r.pushed.map((e) => e.path));
      if (j?.entries.some((e) => mergedIds.has(e.path) && sent.has(e.path))) {
        const entries = j.entries.map((e) => (mergedIds.has(e.path) && sent.has(e.path) && e.after !== undefined ? { ...e, after: mergedIds.get(e.path)! } : e));
        await commit(ctx.store.db, [ctx.store.undoOp({ ...j, entries })]);
      }
    }
  }
  return result;
}
