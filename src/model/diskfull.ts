/**
 * Recognising a full disk (or quota) in whatever error reports it, and the DISK_FULL error it
 * becomes. Node's fs reports `code: 'ENOSPC'` / `'EDQUOT'`; classic-level reports
 * `code: 'LEVEL_IO_ERROR'` with LevelDB's text `IO error: <file>: No space left on device`
 * (strerror of the errno), sometimes as the `cause` of the error it throws. Pure: this only
 * inspects error objects.
 * @module
 */
import { AgentsyncError } from './errors.js';

/** The errnos, and DISK_FULL itself (an error already mapped). */
const CODES = new Set(['ENOSPC', 'EDQUOT', 'DISK_FULL']);
/** strerror(ENOSPC) and strerror(EDQUOT) as LevelDB's POSIX env words them. */
const TEXT = /No space left on device|Disk quota exceeded/;

/** The error and its causes (a few levels; errors are not trusted to end their chains). */
function* chain(e: unknown): Generator<{ code?: unknown; message?: unknown; path?: unknown }> {
  let x = e;
  for (let i = 0; i < 4 && typeof x === 'object' && x !== null; i++) {
    yield x as { code?: unknown; message?: unknown; path?: unknown };
    x = (x as { cause?: unknown }).cause;
  }
}

/** True when `e` (or its cause) says the disk or the user's quota is full. */
export function isDiskFull(e: unknown): boolean {
  for (const x of chain(e)) {
    if (typeof x.code === 'string' && CODES.has(x.code)) return true;
    if (typeof x.message === 'string' && TEXT.test(x.message)) return true;
  }
  return false;
}

/** The file the failed write was for, when the error names it. */
export function diskFullPath(e: unknown): string | undefined {
  for (const x of chain(e)) {
    if (typeof x.path === 'string') return x.path;
    const m = typeof x.message === 'string' ? /IO error: (.+?): (?:No space left on device|Disk quota exceeded)/.exec(x.message) : null;
    if (m) return m[1];
  }
  return undefined;
}

/**
 * The DISK_FULL error for a write that failed on a full disk. Every write agentsync makes is
 * atomic (a LevelDB batch, or a temp file renamed into place), so the failed one left nothing
 * half-written.
 */
export function diskFullError(e: unknown): AgentsyncError {
  const path = diskFullPath(e);
  return new AgentsyncError('DISK_FULL', `the disk${path ? ` holding ${path}` : ''} is full: nothing was half-written; free space and run the command again`, path ? { path } : {});
}

/** `e` itself, or the DISK_FULL error when it reports a full disk. */
export function mapDiskFull(e: unknown): unknown {
  return isDiskFull(e) && !(e instanceof AgentsyncError) ? diskFullError(e) : e;
}
