/**
 * Scanning `services/`: walk each kind's folder, stat every candidate, and reuse the blob id
 * from the stat cache when size, mtime and inode are unchanged (a file is re-read only when
 * its stat changed, or when it changed too close to the cache write to tell — git's "racy" rule).
 * @module
 */
import { lstatSync, readdirSync, readFileSync, realpathSync, statSync, unlinkSync, type Dirent, type Stats } from 'node:fs';
import { join, sep } from 'node:path';
import { fail } from '../model/errors.js';
import { blobId, type ObjectId } from '../model/hash.js';
import type { Kind } from '../model/kinds.js';
import { snapshotHash, type Manifest, type SnapshotHash } from '../model/manifest.js';
import { checkArtifactPath } from '../model/paths.js';
import type { StatCache } from '../store/stat-cache.js';
import type { Workspace } from './config.js';
import { isDeadTemp } from './temp.js';

export interface ScanResult {
  manifest: Manifest;
  /** Snapshot hash of `manifest`. */
  snapshot: SnapshotHash;
  cache: StatCache;
  /** True when the cache changed and should be saved. */
  cacheDirty: boolean;
  /** Files (re-)read and hashed in this scan. */
  hashed: number;
  /**
   * How `manifest` differs from the cache's rows, whose snapshot is `from` ('' when unknown):
   * `prev` null for an added path, `id` null for a removed one.
   */
  changes: ScanChange[];
  from: string;
}

export interface ScanChange {
  path: string;
  id: ObjectId | null;
  prev: ObjectId | null;
}

/** Margin for "racy" entries, in ms: mtimes this close to the cache write are not trusted. */
const RACY_MS = 5;

const NO_THROW = { throwIfNoEntry: false } as const;

/** How far ahead of the cursor a scan looks for a row before it indexes the cache. */
const LOOKAHEAD = 8;

function listDir(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw e;
  }
}

/** The folders to walk for these kinds: each distinct root once, none nested in another walked root. */
export function walkPlan(kinds: readonly Kind[]): WalkPlan {
  const roots = new Map<string, number>();
  for (const k of kinds) roots.set(k.root, Math.max(roots.get(k.root) ?? -1, k.depth));
  const sorted = [...roots.entries()].sort((a, b) => a[0].length - b[0].length);
  const walked: WalkPlan = [];
  for (const [root, depth] of sorted) {
    const covered = walked.some(([r, d]) => (r === '' || root === r || root.startsWith(r + '/')) && d - (r === '' ? root.split('/').length : root.slice(r.length + 1).split('/').length) >= depth);
    if (!covered) walked.push([root, depth]);
  }
  return walked;
}

/** A walk plan: folders relative to services/ ('' is services/ itself) and how deep to go. */
export type WalkPlan = [root: string, depth: number][];

/** Scan the workspace's artifacts. Reads only files whose stat changed. */
export function scan(ws: Workspace, cache: StatCache): ScanResult {
  const manifest: Manifest = new Map();
  let servicesReal: string | undefined;
  let hashed = 0;
  let dirty = false;
  // The cache's rows are in the order the last scan visited the files: an unchanged tree
  // matches them one after another, with no lookup. A few rows skipped (deleted files) are found
  // by looking ahead; a row out of place (a file added since the cache was written whole) by an
  // index, built on first need, without moving the cursor.
  const n = cache.paths.length, cpaths = cache.paths;
  const kinds = kindsKey(ws.kinds);
  const trusted = cache.kinds === kinds; // same kinds: a cached path is still an artifact
  let cursor = 0;
  let index: Map<string, number> | undefined;
  const lookup = (rel: string): number => {
    for (let k = cursor + 1; k < n && k <= cursor + LOOKAHEAD; k++) {
      if (cpaths[k] === rel) { cursor = k + 1; return k; }
    }
    if (!index) { index = new Map(); for (let i = 0; i < n; i++) index.set(cpaths[i]!, i); }
    return index.get(rel) ?? -1;
  };
  const seen = new Uint8Array(n);
  let seenCount = 0;
  const changes: ScanChange[] = [];
  const out: StatCache = { writtenAt: 0, snapshot: '', kinds, paths: [], ids: [], size: [], mtime: [], ino: [] };
  const size = out.size as number[], mtime = out.mtime as number[], ino = out.ino as number[];
  const visitFile = (rel: string, abs: string, isLink: boolean) => {
    if (manifest.has(rel)) return;
    let row = cursor < n && cpaths[cursor] === rel ? cursor++ : -2;
    if (row === -2 || !trusted) {
      let isArtifact = false;
      for (const k of ws.kinds) if (k.match(rel)) { isArtifact = true; break; }
      if (!isArtifact) return;
      if (row === -2) row = lookup(rel);
      if (row < 0) checkArtifactPath(rel); // cached paths were checked when first seen
    }
    if (isLink) {
      servicesReal ??= realpathSync(ws.services);
      let target: string;
      try { target = realpathSync(abs); } catch {
        // Never skipped silently: the hash CI pins would miss it without anyone knowing.
        return fail('PATH_UNSAFE', `services/${rel} is a symbolic link to nothing (dangling); remove it or fix its target`, { path: rel, reason: 'dangling link' });
      }
      if (!target.startsWith(servicesReal + sep)) fail('PATH_UNSAFE', `services/${rel} is a symlink to ${target}, outside services/; replace it with a regular file`, { path: rel });
    }
    const st: Stats | undefined = statSync(abs, NO_THROW);
    if (!st || !st.isFile()) return;
    const sz = st.size, mt = st.mtimeMs, nd = st.ino;
    if (sz > ws.maxFileSize) fail('FILE_TOO_LARGE', `services/${rel} is ${sz} bytes, over the ${ws.maxFileSize}-byte cap; shrink it or raise maxFileSize in agentsync.yaml`, { path: rel, size: sz, max: ws.maxFileSize });
    let id: string;
    if (row >= 0 && cache.size[row] === sz && cache.mtime[row] === mt && cache.ino[row] === nd && mt + RACY_MS < cache.writtenAt) {
      id = cache.ids[row]!; // unchanged: not read again
    } else {
      id = blobId(readFileSync(abs));
      hashed++;
      dirty = true;
      if (row < 0) changes.push({ path: rel, id, prev: null });
      else if (id !== cache.ids[row]) changes.push({ path: rel, id, prev: cache.ids[row]! });
    }
    if (row >= 0 && !seen[row]) { seen[row] = 1; seenCount++; }
    manifest.set(rel, id);
    out.paths.push(rel); out.ids.push(id); size.push(sz); mtime.push(mt); ino.push(nd);
  };
  const walk = (relDir: string, depth: number) => {
    const absDir = relDir ? ws.services + sep + relDir.split('/').join(sep) : ws.services;
    for (const d of listDir(absDir)) {
      if (d.name.includes('\ufffd')) checkUtf8Name(absDir, d.name, relDir);
      const rel = relDir ? `${relDir}/${d.name}` : d.name;
      if (d.isDirectory()) {
        if (depth > 0) walk(rel, depth - 1);
      } else if (d.isFile() || d.isSymbolicLink()) {
        // A temp file left by a killed agentsync process: nothing will ever rename it.
        if (d.name.charCodeAt(0) === 46 && d.isFile() && isDeadTemp(d.name)) { removeStale(absDir + sep + d.name); continue; }
        if (depth > 0 && d.isSymbolicLink() && statSync(absDir + sep + d.name, NO_THROW)?.isDirectory()) linkedFolder(rel);
        visitFile(rel, absDir + sep + d.name, d.isSymbolicLink());
      }
    }
  };
  const plan = walkPlan(ws.kinds);
  checkNoLinkedRoot(ws, plan);
  for (const [root, depth] of plan) walk(root, depth);
  if (seenCount < n) for (let i = 0; i < n; i++) if (!seen[i]) changes.push({ path: cpaths[i]!, id: null, prev: cache.ids[i]! });
  // Every row seen, under the same kinds, none re-read: the cached snapshot hash still holds.
  if (out.paths.length !== n || !trusted || !cache.snapshot) dirty = true;
  if (!dirty) return { manifest, snapshot: cache.snapshot, cache, cacheDirty: false, hashed, changes, from: cache.snapshot };
  out.snapshot = snapshotHash(manifest);
  out.writtenAt = Date.now();
  return { manifest, snapshot: out.snapshot, cache: out, cacheDirty: true, hashed, changes, from: cache.snapshot };
}

function linkedFolder(rel: string): never {
  return fail('PATH_UNSAFE', `services/${rel} is a symbolic link to a folder; agentsync does not follow folder links (they could reach outside services/) — replace it with a real folder`, { path: rel, reason: 'symbolic link' });
}

/** `services/` and every folder on the way to a walked root are real folders, not links (SPEC §1.3). */
function checkNoLinkedRoot(ws: Workspace, plan: WalkPlan): void {
  const top = lstatSync(ws.services, NO_THROW);
  if (top?.isSymbolicLink()) fail('PATH_UNSAFE', `${ws.services} is a symbolic link; agentsync does not follow folder links — make services/ a real folder`, { path: '', reason: 'symbolic link' });
  if (!top?.isDirectory()) return;
  const checked = new Set<string>();
  for (const [root] of plan) {
    let rel = '';
    for (const seg of root ? root.split('/') : []) {
      rel = rel ? `${rel}/${seg}` : seg;
      if (checked.has(rel)) continue;
      checked.add(rel);
      const st = lstatSync(ws.services + sep + rel.split('/').join(sep), NO_THROW);
      if (st?.isSymbolicLink()) linkedFolder(rel);
      if (!st?.isDirectory()) break;
    }
  }
}

/**
 * A name with U+FFFD may be a file name that is not UTF-8 (the OS gave bytes Node could not
 * decode): such a file cannot be named in a manifest, and skipping it would hide it from the hash.
 */
function checkUtf8Name(absDir: string, name: string, relDir: string): void {
  const dec = new TextDecoder('utf-8', { fatal: true });
  for (const raw of readdirSync(absDir, { encoding: 'buffer' })) {
    try { dec.decode(raw); } catch {
      const shown = relDir ? `${relDir}/${name}` : name;
      fail('PATH_UNSAFE', `services/${shown} has a file name that is not valid UTF-8; rename it (artifact paths are UTF-8)`, { path: shown, reason: 'not UTF-8' });
    }
  }
}

function removeStale(abs: string): void {
  try { unlinkSync(abs); } catch { /* another process took it first, or it is not ours to remove */ }
}

/** What the stat cache records of the kinds, to know its rows were matched with the same ones. */
export function kindsKey(kinds: readonly Kind[]): string {
  return kinds.map((k) => `${k.name}\t${k.pattern}`).join('\n');
}

/** Read one artifact's bytes. */
export function readArtifact(ws: Pick<Workspace, 'services'>, rel: string): Uint8Array {
  return readFileSync(join(ws.services, ...rel.split('/')));
}
