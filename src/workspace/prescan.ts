/**
 * Prescan: agentsync's version of git's preload-index. The CLI entry starts one worker thread
 * that lists the kind folders under `services/` and stats every file in them, on the second
 * core, while the main thread loads its modules, opens the store and reads the stat cache.
 * `scan` then takes those listings instead of making the same readdir and stat calls itself.
 *
 * The listings are only a faster source of the same facts. They are taken before the store is
 * locked, so a folder is used only if its mtime is unchanged once the lock is held: every file
 * agentsync writes is renamed into its folder, which changes the folder's mtime, so files that
 * another agentsync process wrote meanwhile are seen. Any folder not listed or not usable
 * (another walk plan, an error, a worker that failed) is read by the scan as usual, so the result
 * never depends on the prescan. This module imports nothing but Node built-ins, so the entry can
 * start it before loading anything else. `AGENTSYNC_PRESCAN=0` turns it off.
 * @module
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';

/** A walk plan: folders relative to services/ ('' is services/ itself) and how deep to go. */
export type WalkPlan = [root: string, depth: number][];

/** The walk plan of the default kinds (a test checks it against `walkPlan(DEFAULT_KINDS)`). */
export const DEFAULT_PLAN: WalkPlan = [['mcp', 0], ['agents', 0], ['skills', 0], ['content', Infinity], ['playbook', Infinity]];

/** Entry types in `PrescanData.types` (low bits), and the flag for "stat says a regular file". */
export const T_FILE = 1, T_DIR = 2, T_LINK = 3, T_OTHER = 4, F_REGULAR = 8;

/** What the worker sends: flat arrays, cheap to pass between threads. */
export interface PrescanData {
  /** Absolute path of services/. */
  services: string;
  /** Absolute paths of the folders listed, in the form scan builds them. */
  dirs: string[];
  /** Each folder's mtime (ms), taken before it was listed. */
  dirMtimes: Float64Array;
  /** Wall-clock time (ms) when the worker started. */
  startedAt: number;
  /** Index of each folder's first entry; one more element than `dirs`. */
  starts: Int32Array;
  /** Entry names joined with '/' (a character no file name holds). */
  names: string;
  types: Uint8Array;
  /** size, mtimeMs, ino per entry (files and symlinks whose stat succeeded). */
  nums: Float64Array;
}

/** The listings in the form `scan` reads them. */
export interface Prescan {
  services: string;
  dirs: Map<string, readonly [start: number, end: number]>;
  names: string[];
  types: Uint8Array;
  nums: Float64Array;
}

export interface PrescanInput {
  cwd: string;
  defaultPlan: WalkPlan;
  /** Stop listing after this many entries (the scan reads the rest itself). */
  maxEntries: number;
}

/**
 * The worker's whole job, self-contained (it runs from its source text in the worker, so it may
 * use only its arguments). Returns null when `cwd` is not in a workspace.
 */
export function prescanTree(input: PrescanInput, fs: typeof import('node:fs'), path: typeof import('node:path')): PrescanData | null {
  const startedAt = Date.now();
  let root = path.resolve(input.cwd);
  for (;;) {
    if (fs.existsSync(path.join(root, 'agentsync.yaml'))) break;
    const up = path.dirname(root);
    if (up === root) return null;
    root = up;
  }
  let plan = input.defaultPlan;
  try {
    // Kind overrides may put artifacts anywhere below services/: then list all of it.
    if (/^["']?kinds["']?\s*:/m.test(fs.readFileSync(path.join(root, 'agentsync.yaml'), 'utf8'))) plan = [['', Infinity]];
  } catch { /* the scan will report it */ }
  const services = path.join(root, 'services');
  const sep = path.sep;
  const dirs: string[] = [], dirMtimes: number[] = [], starts: number[] = [], names: string[] = [], types: number[] = [], nums: number[] = [];
  const seen = new Set<string>();
  const walk = (absDir: string, depth: number) => {
    if (names.length >= input.maxEntries || seen.has(absDir)) return;
    let list: import('node:fs').Dirent[];
    let mtime: number;
    try {
      mtime = fs.statSync(absDir).mtimeMs;
      list = fs.readdirSync(absDir, { withFileTypes: true });
    } catch { return; }
    seen.add(absDir);
    dirs.push(absDir);
    dirMtimes.push(mtime);
    starts.push(names.length);
    const sub: string[] = [];
    for (const d of list) {
      const abs = absDir + sep + d.name;
      names.push(d.name);
      if (d.isDirectory()) {
        types.push(2); nums.push(NaN, NaN, NaN);
        if (depth > 0) sub.push(abs);
      } else if (d.isFile() || d.isSymbolicLink()) {
        const st = fs.statSync(abs, { throwIfNoEntry: false });
        types.push((d.isFile() ? 1 : 3) | (st && st.isFile() ? 8 : 0));
        if (st) nums.push(st.size, st.mtimeMs, st.ino); else nums.push(NaN, NaN, NaN);
      } else {
        types.push(4); nums.push(NaN, NaN, NaN);
      }
    }
    for (const s of sub) walk(s, depth - 1);
  };
  for (const [r, depth] of plan) walk(r ? services + sep + r.split('/').join(sep) : services, depth);
  starts.push(names.length);
  return { services, dirs, dirMtimes: Float64Array.from(dirMtimes), startedAt, starts: Int32Array.from(starts), names: names.join('/'), types: Uint8Array.from(types), nums: Float64Array.from(nums) };
}

/** Folders whose mtime is this close to the prescan's start (ms) may have changed unseen. */
const RACY_DIR_MS = 10;

/**
 * Turn the worker's flat data into the scan's lookup form, keeping only the folders that have
 * not changed since they were listed. Called with the store locked: another agentsync process
 * that wrote files after the listing (every write is a rename into the folder, so it changes
 * the folder's mtime) makes the scan read that folder again itself.
 */
export function toPrescan(d: PrescanData, statDir: (dir: string) => number | undefined): Prescan {
  const dirs = new Map<string, readonly [number, number]>();
  for (let i = 0; i < d.dirs.length; i++) {
    const m = d.dirMtimes[i]!;
    if (m + RACY_DIR_MS >= d.startedAt || statDir(d.dirs[i]!) !== m) continue;
    dirs.set(d.dirs[i]!, [d.starts[i]!, d.starts[i + 1]!]);
  }
  return { services: d.services, dirs, names: d.names === '' ? [] : d.names.split('/'), types: d.types, nums: d.nums };
}

let pending: Promise<PrescanData | null> | undefined;

/** Commands that scan the workspace (the others never ask for the listings). */
const SCANNING = new Set(['status', 'diff', 'push', 'pull', 'sync', 'hash', 'verify', 'compile', 'merge', 'undo']);

/**
 * Start the worker for a command line (without the `node agentsync` prefix) when the command
 * scans; `AGENTSYNC_PRESCAN=0` turns it off. Never throws: without a worker the scan does it all.
 */
export function startPrescan(argv: readonly string[], cwd: string, env: NodeJS.ProcessEnv): void {
  if (env.AGENTSYNC_PRESCAN === '0') return;
  let dir = cwd, cmd: string | undefined;
  for (let i = 0; i < argv.length && cmd === undefined; i++) {
    const a = argv[i]!;
    if (a === '-C') dir = resolve(cwd, argv[++i] ?? '.');
    else if (a.startsWith('-C=')) dir = resolve(cwd, a.slice(3));
    else if (a === '--') break;
    else if (!a.startsWith('-')) cmd = a;
  }
  if (!cmd || !SCANNING.has(cmd)) return;
  pending = (async () => {
    try {
      const { Worker } = await import('node:worker_threads');
      const input: PrescanInput = { cwd: dir, defaultPlan: DEFAULT_PLAN, maxEntries: 2_000_000 };
      const src = `const { parentPort, workerData } = require('node:worker_threads');
const d = (${prescanTree.toString()})(workerData, require('node:fs'), require('node:path'));
parentPort.postMessage(d, d ? [d.dirMtimes.buffer, d.starts.buffer, d.types.buffer, d.nums.buffer] : []);`;
      const w = new Worker(src, { eval: true, workerData: input, stdout: false, stderr: false });
      w.unref();
      return await new Promise<PrescanData | null>((res) => {
        w.once('message', (m: PrescanData | null) => res(m));
        w.once('error', () => res(null));
        w.once('exit', () => res(null));
      });
    } catch {
      return null;
    }
  })();
}

/**
 * The listings for `services`, once (a second scan in the same command must look again). Call
 * it with the store locked.
 */
export async function takePrescan(services: string): Promise<Prescan | undefined> {
  const p = pending;
  pending = undefined;
  if (!p) return undefined;
  const d = await p;
  if (!d || d.services !== services) return undefined;
  return toPrescan(d, (dir) => statSync(dir, { throwIfNoEntry: false })?.mtimeMs);
}
