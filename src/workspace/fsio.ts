/**
 * Atomic file writes: write a temp file beside the target, fsync, rename over it, fsync the
 * folder. A reader sees the old bytes or the new bytes, never a mix.
 * @module
 */
import { spawnSync } from 'node:child_process';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

let seq = 0;

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try { fsyncSync(fd); } finally { closeSync(fd); }
  } catch { /* some filesystems refuse directory fsync; the rename is still atomic */ }
}

export function atomicWrite(path: string, data: Uint8Array | string, mode = 0o644): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.agentsync-${process.pid}-${++seq}.tmp`);
  const fd = openSync(tmp, 'w', mode);
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
  for (const d of byDevice.values()) {
    const r = spawnSync('sync', ['-f', d], { stdio: 'ignore' });
    if (r.error || r.status !== 0) return false;
  }
  return true;
}

/**
 * Write many files atomically and durably, in passes: every temp file written; all of them made
 * durable (one syncfs per filesystem for a large batch on Linux, else an fsync each); every
 * rename (and deletion); the renames made durable (syncfs again, else an fsync per folder).
 * Each file is still replaced atomically by fully durable bytes, and nothing is reported done
 * before the new names are durable — far faster than one write–fsync–rename–fsync round per
 * file when a pull writes thousands.
 */
export function writeFilesAtomically(files: readonly { path: string; data: Uint8Array | null }[], mode = 0o644): void {
  const temps: { tmp: string; path: string }[] = [];
  const dirs = new Set<string>();
  const batch = files.length >= SYNCFS_MIN;
  try {
    for (const f of files) {
      const dir = dirname(f.path);
      dirs.add(dir);
      if (f.data === null) continue;
      mkdirSync(dir, { recursive: true });
      const tmp = join(dir, `.${basename(f.path)}.agentsync-${process.pid}-${++seq}.tmp`);
      const fd = openSync(tmp, 'w', mode);
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
  for (const f of files) {
    if (f.data !== null) continue;
    try { unlinkSync(f.path); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; }
  }
  if (!(batch && syncFilesystems(dirs))) for (const d of dirs) fsyncDir(d);
}
