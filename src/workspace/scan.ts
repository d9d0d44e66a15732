/**
 * Scanning `services/`: walk each kind's folder, stat every candidate, and reuse the blob id
 * from the stat cache when size, mtime and inode are unchanged (a file is re-read only when
 * its stat changed, or when it changed too close to the cache write to tell — git's "racy" rule).
 * @module
 */
import { readdirSync, readFileSync, realpathSync, statSync, type Dirent, type Stats } from 'node:fs';
import { join, sep } from 'node:path';
import { fail } from '../model/errors.js';
import { blobId } from '../model/hash.js';
import type { Kind } from '../model/kinds.js';
import { snapshotHash, type Manifest, type SnapshotHash } from '../model/manifest.js';
import { checkArtifactPath } from '../model/paths.js';
import type { StatCache, StatEntry } from '../store/local.js';
import type { Workspace } from './config.js';

export interface ScanResult {
  manifest: Manifest;
  /** Snapshot hash of `manifest`. */
  snapshot: SnapshotHash;
  cache: StatCache;
  /** True when the cache changed and should be saved. */
  cacheDirty: boolean;
  /** Files (re-)read and hashed in this scan. */
  hashed: number;
}

/** Margin for "racy" entries, in ms: mtimes this close to the cache write are not trusted. */
const RACY_MS = 5;

function listDir(dir: string): Dirent[] {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return [];
    throw e;
  }
}

/** Scan the workspace's artifacts. Reads only files whose stat changed. */
export function scan(ws: Workspace, cache: StatCache): ScanResult {
  const manifest: Manifest = new Map();
  const entries = new Map<string, StatEntry>();
  let servicesReal: string | undefined;
  let hashed = 0;
  let dirty = false;
  const visitFile = (rel: string, abs: string, isLink: boolean) => {
    if (manifest.has(rel)) return;
    let kind: Kind | undefined;
    for (const k of ws.kinds) if (k.match(rel)) { kind = k; break; }
    if (!kind) return;
    const old = cache.entries.get(rel);
    if (!old) checkArtifactPath(rel); // cached paths were checked when first seen
    if (isLink) {
      servicesReal ??= realpathSync(ws.services);
      let target: string;
      try { target = realpathSync(abs); } catch { return; } // dangling link: not a file
      if (!target.startsWith(servicesReal + sep)) fail('PATH_UNSAFE', `services/${rel} is a symlink to ${target}, outside services/; replace it with a regular file`, { path: rel });
    }
    let st: Stats;
    const st0 = statSync(abs, { throwIfNoEntry: false });
    if (!st0 || !st0.isFile()) return;
    st = st0;
    if (st.size > ws.maxFileSize) fail('FILE_TOO_LARGE', `services/${rel} is ${st.size} bytes, over the ${ws.maxFileSize}-byte cap; shrink it or raise maxFileSize in agentsync.yaml`, { path: rel, size: st.size, max: ws.maxFileSize });
    if (old && old.size === st.size && old.mtimeMs === st.mtimeMs && old.ino === st.ino && st.mtimeMs + RACY_MS < cache.writtenAt) {
      entries.set(rel, old); // unchanged: reuse the cached entry, allocate nothing
      manifest.set(rel, old.id);
      return;
    }
    const id = blobId(readFileSync(abs));
    hashed++;
    dirty = true;
    entries.set(rel, { id, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino });
    manifest.set(rel, id);
  };
  const walk = (relDir: string, depth: number) => {
    const absDir = relDir ? ws.services + sep + relDir.split('/').join(sep) : ws.services;
    for (const d of listDir(absDir)) {
      const rel = relDir ? `${relDir}/${d.name}` : d.name;
      if (d.isDirectory()) {
        if (depth > 0) walk(rel, depth - 1);
      } else if (d.isFile() || d.isSymbolicLink()) {
        visitFile(rel, absDir + sep + d.name, d.isSymbolicLink());
      }
    }
  };
  const roots = new Map<string, number>();
  for (const k of ws.kinds) roots.set(k.root, Math.max(roots.get(k.root) ?? -1, k.depth));
  // Walk each distinct root once; a root nested in another walked root is covered by it.
  const sorted = [...roots.entries()].sort((a, b) => a[0].length - b[0].length);
  const walked: [string, number][] = [];
  for (const [root, depth] of sorted) {
    const covered = walked.some(([r, d]) => (r === '' || root === r || root.startsWith(r + '/')) && d - (r === '' ? root.split('/').length : root.slice(r.length + 1).split('/').length) >= depth);
    if (!covered) { walk(root, depth); walked.push([root, depth]); }
  }
  if (entries.size !== cache.entries.size) dirty = true;
  if (!cache.snapshot) dirty = true;
  // Same entries as the cache, in the same order: the cached snapshot hash still holds.
  const snapshot = dirty ? snapshotHash(manifest) : cache.snapshot;
  return { manifest, snapshot, cache: { writtenAt: dirty ? Date.now() : cache.writtenAt, snapshot, entries }, cacheDirty: dirty, hashed };
}

/** Read one artifact's bytes. */
export function readArtifact(ws: Workspace, rel: string): Uint8Array {
  return readFileSync(join(ws.services, ...rel.split('/')));
}
