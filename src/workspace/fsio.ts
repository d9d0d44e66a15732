/**
 * Atomic file writes: write a temp file beside the target, fsync, rename over it, fsync the
 * folder. A reader sees the old bytes or the new bytes, never a mix.
 * @module
 */
import { createRequire } from 'node:module';
import { closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, renameSync, rmdirSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fail } from '../model/errors.js';
import { checkArtifactPath } from '../model/paths.js';
import { tempName } from './temp.js';

const requireBuiltin = createRequire(import.meta.url);

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try { fsyncSync(fd); } finally { closeSync(fd); }
  } catch { /* some filesystems refuse directory fsync; the rename is still atomic */ }
}

export function atomicWrite(path: string, data: Uint8Array | string, mode = 0o644): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = tempName(dir);
  const fd = openSync(tmp, 'wx', mode);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  fsyncDir(dir);
}

/** Remove a file if it exists, and fsync its folder. */
export function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    return;
  }
  fsyncDir(dirname(path));
}

/** From this many files on, one filesystem-wide flush beats an fsync per file. */
const SYNCFS_MIN = 32;

/**
 * Flush every filesystem holding one of `dirs` with syncfs(2) (coreutils `sync -f`, Linux).
 * @returns false when that is not available here; the caller then fsyncs file by file.
 */
function syncFilesystems(dirs: Iterable<string>): boolean {
  if (process.platform !== 'linux') return false;
  const byDevice = new Map<number, string>();
  for (const d of dirs) {
    const st = statSync(d, { throwIfNoEntry: false });
    if (st && !byDevice.has(st.dev)) byDevice.set(st.dev, d);
  }
  // Loaded here: node:child_process costs every command a few ms to load, and few need it.
  const { spawnSync } = requireBuiltin('node:child_process') as typeof import('node:child_process');
  for (const d of byDevice.values()) {
    const r = spawnSync('sync', ['-f', d], { stdio: 'ignore' });
    if (r.error || r.status !== 0) return false;
  }
  return true;
}

/**
 * Write many files under `root` atomically and durably, in passes: every deletion (and the
 * folders it empties); every temp file written; all of them made durable (one syncfs per
 * filesystem for a large batch on Linux, else an fsync each); every rename; the renames made
 * durable (syncfs again, else an fsync per folder).
 * Each file is still replaced atomically by fully durable bytes, and nothing is reported done
 * before the new names are durable — far faster than one write–fsync–rename–fsync round per
 * file when a pull writes thousands.
 */
export function writeFilesAtomically(root: string, files: readonly { path: string; data: Uint8Array | null }[], mode = 0o644): void {
  const temps: { tmp: string; path: string }[] = [];
  const dirs = new Set<string>();
  const batch = files.length >= SYNCFS_MIN;
  // Deletions first, and the folders they empty removed, so that a file may take the place of a
  // folder (or a folder of a file) that the same batch removes; then every folder is created
  // one level at a time under `root` (services/), never through a link.
  let removed = false;
  for (const f of files) {
    if (f.data !== null) continue;
    try { unlinkSync(f.path); removed = true; } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
    dirs.add(dirname(f.path));
    pruneEmpty(root, dirname(f.path));
  }
  if (removed && !batch) for (const d of dirs) fsyncDir(d);
  try {
    for (const f of files) {
      const dir = dirname(f.path);
      dirs.add(dir);
      if (f.data === null) continue;
      makeDirs(root, dir);
      const tmp = tempName(dir);
      const fd = openSync(tmp, 'wx', mode); // never through a link planted at the temp name
      temps.push({ tmp, path: f.path });
      try {
        let off = 0;
        while (off < f.data.length) off += writeSync(fd, f.data, off, f.data.length - off);
        if (!batch) fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    }
    if (batch && temps.length && !syncFilesystems(dirs)) {
      for (const t of temps) {
        const fd = openSync(t.tmp, 'r');
        try { fsyncSync(fd); } finally { closeSync(fd); }
      }
    }
  } catch (e) {
    for (const t of temps) rmSync(t.tmp, { force: true });
    throw e;
  }
  for (const t of temps) renameSync(t.tmp, t.path);
  if (!(batch && syncFilesystems(dirs))) for (const d of dirs) fsyncDir(d);
}

/**
 * Remove `dir` and its parents while they are empty (as git does), down to the first level under
 * `root`: `services/content/` and the other kind folders stay.
 */
function pruneEmpty(root: string, dir: string): void {
  while (dir.length > root.length && dir.startsWith(root + sep) && dir.indexOf(sep, root.length + 1) >= 0) {
    try { rmdirSync(dir); } catch { return; } // not empty (or gone): stop
    dir = dirname(dir);
  }
}

/** Create `dir` under `root` one level at a time; every existing level must be a real folder. */
function makeDirs(root: string, dir: string): void {
  if (!lstatSync(root, { throwIfNoEntry: false })) mkdirSync(root, { recursive: true });
  if (dir === root) return;
  const rel = dir.slice(root.length + 1).split(sep);
  let cur = root;
  for (const seg of rel) {
    cur = cur + sep + seg;
    const st = lstatSync(cur, { throwIfNoEntry: false });
    if (st?.isDirectory()) continue;
    if (st) blocked(root, cur, st.isSymbolicLink() ? 'link' : 'file');
    try {
      mkdirSync(cur);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const again = lstatSync(cur);
      if (!again.isDirectory()) blocked(root, cur, again.isSymbolicLink() ? 'link' : 'file');
    }
  }
}

function blocked(root: string, abs: string, what: 'link' | 'file' | 'folder', path?: string): never {
  const rel = abs.slice(root.length + 1).split(sep).join('/');
  if (what === 'link') {
    return fail('PATH_UNSAFE', `services/${rel} is a symbolic link; agentsync never writes through a link — replace it with a real folder, then run the command again`, { path: path ?? rel, blocker: rel, reason: 'symbolic link' });
  }
  const msg = what === 'file'
    ? `services/${rel} is a file where ${path ? `services/${path} needs` : 'agentsync needs'} a folder`
    : `services/${rel} is a folder where agentsync must write a file`;
  return fail('PATH_BLOCKED', `${msg}; nothing was written — move it away, then run the command again`, { path: path ?? rel, blocker: rel, what });
}

/**
 * Check, before anything is written, that every artifact in `writes` can be written under
 * `root` (services/): the root and every existing folder on the way are real folders (not
 * links, not files), and no folder stands where a file goes — counting what the same batch
 * deletes as gone. Paths are checked against SPEC §1.3 again (defence in depth).
 * @throws PATH_UNSAFE (a link on the way, an unsafe path), PATH_BLOCKED (a file or folder in the way)
 */
export function checkWritable(root: string, writes: readonly { path: string; delete: boolean }[]): void {
  const rootSt = lstatSync(root, { throwIfNoEntry: false });
  if (rootSt?.isSymbolicLink()) fail('PATH_UNSAFE', `${root} is a symbolic link; agentsync never writes through a link — replace it with a real folder`, { path: '', reason: 'symbolic link' });
  const deleted = new Set<string>();
  for (const w of writes) if (w.delete) deleted.add(w.path);
  const known = new Map<string, 'dir' | 'none'>();
  for (const w of writes) {
    checkArtifactPath(w.path);
    const segs = w.path.split('/');
    let rel = '';
    let absent = rootSt === undefined;
    for (let i = 0; i < segs.length - 1 && !absent; i++) {
      rel = rel ? `${rel}/${segs[i]}` : segs[i]!;
      const k = known.get(rel);
      if (k === 'dir') continue;
      if (k === 'none') { absent = true; break; }
      const st = lstatSync(join(root, ...rel.split('/')), { throwIfNoEntry: false });
      if (!st) { known.set(rel, 'none'); absent = true; break; }
      if (st.isSymbolicLink()) blocked(root, join(root, ...rel.split('/')), 'link', w.path);
      if (!st.isDirectory()) {
        if (!w.delete && deleted.has(rel)) { known.set(rel, 'none'); absent = true; break; }
        if (w.delete) { absent = true; break; } // nothing to delete under a file
        blocked(root, join(root, ...rel.split('/')), 'file', w.path);
      }
      known.set(rel, 'dir');
    }
    if (absent || w.delete) continue;
    const abs = join(root, ...segs);
    const st = lstatSync(abs, { throwIfNoEntry: false });
    if (st?.isDirectory() && !emptiedBy(abs, w.path, deleted)) blocked(root, abs, 'folder', w.path);
  }
}

/** True when every file under folder `abs` (artifact path `rel`) is deleted by the batch. */
function emptiedBy(abs: string, rel: string, deleted: ReadonlySet<string>): boolean {
  let left = 1000; // a folder with more is not looked through: it stays in the way
  const walk = (a: string, r: string): boolean => {
    for (const d of readdirSync(a, { withFileTypes: true })) {
      if (--left < 0) return false;
      const ra = `${r}/${d.name}`;
      if (d.isDirectory()) { if (!walk(join(a, d.name), ra)) return false; } else if (!deleted.has(ra)) return false;
    }
    return true;
  };
  return walk(abs, rel);
}

/** Bytes of the regular files below `dir` (links not followed): a store's size on disk. */
export function folderBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    n += e.isDirectory() ? folderBytes(p) : e.isFile() ? statSync(p).size : 0;
  }
  return n;
}
