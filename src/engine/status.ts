/**
 * status: the three-way comparison of every artifact — local (working files), base (last
 * synced with this remote) and remote (latest published in the last fetch). Offline.
 * @module
 */
import { formatOf, kindOf } from '../model/kinds.js';
import { join } from 'node:path';
import { mergesInProgress } from './merge-records.js';
import type { ObjectId } from '../model/hash.js';
import { applyChanges, EMPTY_SNAPSHOT, type Manifest, type SnapshotHash } from '../model/manifest.js';
import { compareUtf8 } from '../model/paths.js';
import { compileSelectors } from '../model/selectors.js';
import { classify, type Side, type State } from '../model/state.js';
import { STATBASE_MAX, type Tracking } from '../store/local.js';
import { readArtifact, scan, type ScanResult } from '../workspace/scan.js';
import type { Workspace } from '../workspace/config.js';
import type { Context } from './context.js';

export interface Entry {
  path: string;
  kind: string | null;
  local: Side;
  remote: Side;
  state: State;
  ids: { local: ObjectId | null; base: ObjectId | null; remote: ObjectId | null };
  /** YAML whose bytes differ between local and remote but whose parsed value does not. */
  formatOnly?: boolean;
  /** A merge started with `agentsync merge` awaits `agentsync resolve`. */
  merging?: boolean;
  /**
   * For a `conflict` (set by {@link previewConflicts}): `clean` when the three-way merge of the
   * two edits is clean (pull applies it), `conflict` when it is a true conflict.
   */
  merge?: 'clean' | 'conflict';
}

/**
 * Tell true conflicts from both-sides edits that merge cleanly, without writing anything: each
 * `conflict` entry gets `merge` (the same three-way merge `pull` would apply).
 */
export async function previewConflicts(ctx: Context, entries: Entry[]): Promise<void> {
  const todo = entries.filter((e) => e.state === 'conflict');
  if (todo.length === 0) return;
  const { previewMerge } = await import('./merge.js');
  const { mergeable } = await import('./merge-records.js');
  for (const e of todo) e.merge = !e.merging && mergeable(e) && (await previewMerge(ctx, e)).clean ? 'clean' : 'conflict';
}

export interface Status {
  remote: string | null;
  base: SnapshotHash;
  local: SnapshotHash;
  remoteSnapshot: SnapshotHash | null;
  fetchedAt: string | null;
  /** Latest published version id at the last fetch. */
  latestPublished: number | null;
  entries: Entry[];
  /** Number of artifacts in the local workspace. */
  artifacts: number;
  manifests: { local: Manifest; base: Manifest; remote: Manifest };
  /**
   * Remote (or base) paths that no kind of this workspace matches: left alone by pull and push
   * (a workspace never writes or deletes them), listed so status can mention them.
   */
  outside: string[];
  tracking: Tracking | undefined;
  /** With `git`: drifted artifacts whose working file has uncommitted git changes. */
  gitDirty?: string[];
}

export interface StatusOptions {
  /** Keep clean entries too. */
  all?: boolean;
  /** Find drifted artifacts with uncommitted git changes (reads git). */
  git?: boolean;
  /** Use this fetch record instead of the stored one (a dry run's unsaved fetch). */
  tracking?: Tracking;
  /** Flag format-only YAML drift (parses both sides; for views, not for push/pull). */
  formatOnly?: boolean;
  /** A scan made for this status (`scanLocal`), instead of scanning here. */
  scanned?: ScanResult;
}

/** Scan the workspace and refresh the stat cache. */
export async function scanLocal(ctx: Context) {
  const cache = await ctx.store.statCache();
  const res = scan(ctx.ws, cache);
  if (res.cacheDirty) await ctx.store.saveStatCache(res.cache);
  return res;
}

function kindFor(ws: Workspace, path: string): string | null {
  return kindOf(ws.kinds, path)?.name ?? null;
}

/** Compute the status of every (selected) artifact; `all` keeps clean entries too. */
export async function computeStatus(ctx: Context, selectors: readonly string[] = [], opts: StatusOptions = {}): Promise<Status> {
  const scanned = opts.scanned ?? (await scanLocal(ctx));
  const { manifest: local, snapshot: localSnap } = scanned;
  const name = ctx.remoteConfig?.name ?? null;
  const baseSnap = name ? await ctx.store.baseSnapshot(name) : EMPTY_SNAPSHOT;
  const tracking = opts.tracking ?? (name ? await ctx.store.tracking(name) : undefined);
  // No published version (or never fetched) means no remote-side drift.
  const remoteSnap = tracking?.latestSnapshot ?? baseSnap;
  const merging = name ? await mergesInProgress(ctx, name) : new Set<string>();
  const entries: Entry[] = [];
  const outside: string[] = [];
  const add = (path: string, kind: string | null, l: ObjectId | undefined, b: ObjectId | undefined, r: ObjectId | undefined) => {
    const c = classify(l, b, r);
    const inMerge = merging.has(path);
    if (inMerge) c.state = 'conflict'; // until `agentsync resolve`
    if (c.state === 'clean' && !opts.all) return;
    entries.push({ path, kind, ...c, ids: { local: l ?? null, base: b ?? null, remote: r ?? null }, ...(inMerge ? { merging: true } : {}) });
  };
  let manifests: Status['manifests'];
  // Only local drift (the remote is the base): what differs from the base is what the scan saw
  // change since the rows, plus how the rows differed from the base when a status kept that.
  const localOnly = baseSnap !== localSnap && remoteSnap === baseSnap;
  const kept = name && localOnly && scanned.from !== baseSnap ? await ctx.store.statBase(name) : undefined;
  const rowsDiff = kept && kept.cache === scanned.from && kept.base === baseSnap ? new Map(kept.diff) : undefined;
  let drift: Map<string, ObjectId | null> | undefined; // path → base id where local differs, to keep
  if (!opts.all && localOnly && (scanned.from === baseSnap || rowsDiff)) {
    // The base is the stat cache's rows (same snapshot) or differs from them at known paths, and
    // the scan says how local differs from the rows: only those paths (and merges in progress)
    // can be drifted. The base manifest is neither read nor decoded unless a caller asks for it.
    const prev = new Map<string, ObjectId | null>();
    for (const c of scanned.changes) prev.set(c.path, rowsDiff?.has(c.path) ? rowsDiff.get(c.path)! : c.prev);
    if (rowsDiff) for (const [p, id] of rowsDiff) if (!prev.has(p)) prev.set(p, id);
    drift = new Map([...prev].filter(([p, id]) => (local.get(p) ?? null) !== id));
    const known = { *[Symbol.iterator]() { yield* local.keys(); for (const [p, id] of prev) if (id !== null && !local.has(p)) yield p; } };
    const sel = compileSelectors(selectors, ctx.ws.kinds, known);
    for (const path of new Set([...prev.keys(), ...merging])) {
      const kind = kindFor(ctx.ws, path);
      // A base path no kind matches any more (the kinds changed since the cache was written):
      // outside, as in the full walk below, not a local deletion.
      if (kind === null) { if (prev.get(path)) outside.push(path); continue; }
      if (!sel(path, kind)) continue;
      const l = local.get(path), b = prev.has(path) ? prev.get(path) ?? undefined : l;
      add(path, kind, l, b, b);
    }
    let base: Manifest | undefined;
    const baseOf = () => (base ??= applyChanges(local, [...prev].map(([path, id]) => ({ path, id }))));
    manifests = { local, get base() { return baseOf(); }, get remote() { return baseOf(); } };
  } else {
    // Equal snapshots have equal manifests: skip decoding the stored ones (the common, clean case).
    const base = baseSnap === localSnap ? local : await ctx.store.manifest(baseSnap);
    const remote = remoteSnap === baseSnap ? base : remoteSnap === localSnap ? local : await ctx.store.manifest(remoteSnap);
    const allClean = localSnap === baseSnap && remoteSnap === baseSnap && merging.size === 0;
    // All clean: every known path is a local one (iterate the manifest, no copy).
    const known: Iterable<string> = allClean ? { [Symbol.iterator]: () => local.keys() } : new Set([...local.keys(), ...base.keys(), ...remote.keys()]);
    const sel = compileSelectors(selectors, ctx.ws.kinds, known);
    for (const path of allClean && !opts.all ? [] : known) {
      const kind = kindFor(ctx.ws, path);
      // Like a sparse checkout: a path no kind of this workspace matches (another client's,
      // another workspace config's) is neither written nor deleted here; status counts it.
      if (kind === null) { if (remote.has(path) || base.has(path)) outside.push(path); continue; }
      if (!sel(path, kind)) continue;
      add(path, kind, local.get(path), base.get(path), remote.get(path));
    }
    manifests = { local, base, remote };
    if (name && baseSnap !== localSnap && base !== local) drift = diffOf(local, base);
  }
  // Kept for the next command, whose scan will start from the rows this one saw: it then reads
  // no base manifest (`statbase!`; derived, so written unsynced and only when it changed).
  if (name && drift && drift.size <= STATBASE_MAX && !(kept?.cache === localSnap && kept.base === baseSnap)) {
    await ctx.store.saveStatBase(name, { cache: localSnap, base: baseSnap, diff: [...drift] });
  }
  entries.sort((a, b) => compareUtf8(a.path, b.path));
  if (opts.formatOnly) await markFormatOnly(ctx, entries);
  const gitDirty = opts.git && entries.length ? await dirtyInGit(ctx, entries) : undefined;
  return {
    remote: name, base: baseSnap, local: localSnap,
    remoteSnapshot: tracking ? tracking.latestSnapshot : null, fetchedAt: tracking?.fetchedAt ?? null,
    latestPublished: tracking?.head.latestPublished ?? null,
    entries, artifacts: local.size, manifests, tracking,
    outside: outside.sort(compareUtf8),
    ...(gitDirty ? { gitDirty } : {}),
  };
}

const dec = new TextDecoder();

/** Flag YAML entries whose local and remote bytes differ only in format (comments, quoting, order). */
async function markFormatOnly(ctx: Context, entries: Entry[]): Promise<void> {
  const cands = entries.filter((e) => e.state !== 'clean' && !e.merging && e.ids.local !== null && e.ids.remote !== null && e.ids.local !== e.ids.remote && formatOf(e.path) === 'yaml');
  if (cands.length === 0) return;
  const { yamlSemanticallyEqual } = await import('../merge/yaml.js');
  for (const e of cands) {
    const remote = await ctx.store.objects.get(e.ids.remote!);
    if (!remote) continue;
    if (yamlSemanticallyEqual(dec.decode(readArtifact(ctx.ws, e.path)), dec.decode(remote))) e.formatOnly = true;
  }
}

/** Where `local` differs from `base`: path → the base's id (null: not in the base). */
function diffOf(local: Manifest, base: Manifest): Map<string, ObjectId | null> {
  const out = new Map<string, ObjectId | null>();
  for (const [p, id] of local) if (base.get(p) !== id) out.set(p, base.get(p) ?? null);
  for (const [p, id] of base) if (!local.has(p)) out.set(p, id);
  return out;
}

/** Most drifted files git is asked about (per-file status; a whole-tree status is too slow). */
const GIT_CHECK_MAX = 500;

async function dirtyInGit(ctx: Context, entries: Entry[]): Promise<string[] | undefined> {
  const { findGitRoot, gitDirty } = await import('../workspace/git.js');
  const root = findGitRoot(ctx.ws.root);
  if (!root) return undefined;
  const local = entries.filter((e) => e.ids.local !== null).slice(0, GIT_CHECK_MAX);
  const abs = (p: string) => join(ctx.ws.services, ...p.split('/'));
  const dirty = await gitDirty(root, local.map((e) => abs(e.path)));
  return local.filter((e) => dirty.has(abs(e.path))).map((e) => e.path);
}
